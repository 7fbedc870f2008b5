// How Go's CPU profiler shares samples between a short piece of work and the
// longer one that follows it on the same thread, against the CPU each really
// used (read from CLOCK_THREAD_CPUTIME_ID). Linux fires the profiler's timers
// only at its tick, so a sample lands on whatever runs at the first tick after
// it was due: work shorter than a tick reads low. Used by
// scripts/bench-labels-tick; standard library only.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand"
	"runtime"
	rpprof "runtime/pprof"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"labelstick/profile"
)

func threadCPU() time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

var used [2]atomic.Int64
var sink atomic.Int64

// burn uses d of this thread's CPU and adds it to used[i].
func burn(d time.Duration, i int) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	x := 0
	for threadCPU()-start < d {
		for j := 0; j < 2000; j++ {
			x = (x*31 + j) % 1000003
		}
	}
	sink.Add(int64(x))
	used[i].Add(int64(threadCPU() - start))
}

func main() {
	short := flag.Duration("short", time.Millisecond, "CPU of the short work")
	long := flag.Duration("long", 4*time.Millisecond, "CPU of the work that follows it")
	users := flag.Int("users", 2, "goroutines doing short then long then a random sleep")
	seconds := flag.Int("seconds", 10, "profile length")
	flag.Parse()
	for u := 0; u < *users; u++ {
		go func() {
			for {
				rpprof.Do(context.Background(), rpprof.Labels("work", "short"), func(context.Context) { burn(*short, 0) })
				rpprof.Do(context.Background(), rpprof.Labels("work", "long"), func(context.Context) { burn(*long, 1) })
				// A random pause, as between requests, so that the work does
				// not keep step with the kernel's tick.
				time.Sleep(time.Duration(rand.ExpFloat64() * float64(5*time.Millisecond)))
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	var buf bytes.Buffer
	before := [2]int64{used[0].Load(), used[1].Load()}
	if err := rpprof.StartCPUProfile(&buf); err != nil {
		panic(err)
	}
	time.Sleep(time.Duration(*seconds) * time.Second)
	rpprof.StopCPUProfile()
	cpu := [2]float64{float64(used[0].Load() - before[0]), float64(used[1].Load() - before[1])}
	samples, err := profile.SamplesByLabel(buf.Bytes(), "work")
	if err != nil {
		panic(err)
	}
	truth := cpu[0] / (cpu[0] + cpu[1])
	seen := float64(samples["short"]) / float64(samples["short"]+samples["long"])
	fmt.Printf("%-8s %-8s %8d %8d %9.1f%% %9.1f%% %+9.0f%%\n",
		short.String(), long.String(), samples["short"], samples["long"],
		100*truth, 100*seen, 100*(seen/truth-1))
}
