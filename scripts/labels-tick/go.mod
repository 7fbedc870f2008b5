module labelstick

go 1.19
