module modgate.local/bench/peers/goproxy

go 1.23.0

require github.com/goproxy/goproxy v0.20.0

require golang.org/x/mod v0.24.0 // indirect
