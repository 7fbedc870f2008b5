// Package profile reads the little of a gzipped profile.proto that
// scripts/bench-labels-tick needs: each sample's first value (the sample
// count) summed per value of one string label. Hand-written because the Go
// standard library's profile reader is internal, and the bench must build
// offline with no module downloads.
package profile

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
)

// SamplesByLabel sums the samples of a gzipped profile per value of label key.
func SamplesByLabel(gz []byte, key string) (map[string]int64, error) {
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var strs []string
	type label struct{ key, str int64 }
	type sample struct {
		count  int64
		labels []label
	}
	var samples []sample
	err = fields(raw, func(num int, v uint64, b []byte) error {
		switch num {
		case 2: // Sample
			var s sample
			first := true
			err := fields(b, func(num int, v uint64, b []byte) error {
				switch {
				case num == 2 && b != nil: // packed values
					if first {
						n, _, err := varint(b)
						s.count, first = int64(n), false
						return err
					}
				case num == 2 && first:
					s.count, first = int64(v), false
				case num == 3: // Label
					var l label
					err := fields(b, func(num int, v uint64, _ []byte) error {
						switch num {
						case 1:
							l.key = int64(v)
						case 2:
							l.str = int64(v)
						}
						return nil
					})
					s.labels = append(s.labels, l)
					return err
				}
				return nil
			})
			samples = append(samples, s)
			return err
		case 6: // string_table
			strs = append(strs, string(b))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, s := range samples {
		for _, l := range s.labels {
			if int(l.key) < len(strs) && int(l.str) < len(strs) && strs[l.key] == key {
				out[strs[l.str]] += s.count
			}
		}
	}
	return out, nil
}

// fields calls f for each field of a message: its number, and its varint
// value or its length-delimited bytes.
func fields(msg []byte, f func(num int, v uint64, b []byte) error) error {
	for len(msg) > 0 {
		tag, n, err := varint(msg)
		if err != nil {
			return err
		}
		msg = msg[n:]
		num, wire := int(tag>>3), tag&7
		switch wire {
		case 0:
			v, n, err := varint(msg)
			if err != nil {
				return err
			}
			msg = msg[n:]
			if err := f(num, v, nil); err != nil {
				return err
			}
		case 2:
			l, n, err := varint(msg)
			if err != nil || uint64(len(msg)-n) < l {
				return errors.New("truncated field")
			}
			b := msg[n : n+int(l)]
			msg = msg[n+int(l):]
			if err := f(num, 0, b); err != nil {
				return err
			}
		case 1:
			msg = msg[min(8, len(msg)):]
		case 5:
			msg = msg[min(4, len(msg)):]
		default:
			return errors.New("unknown wire type")
		}
	}
	return nil
}

func varint(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errors.New("bad varint")
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}
