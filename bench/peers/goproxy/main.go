// Command goproxy-peer runs github.com/goproxy/goproxy with a disk cacher in
// front of one upstream proxy, as the peer that modgate's benchmarks compare
// against. It listens on loopback, prints "listening on URL" once it accepts
// connections, and runs until it is signalled. With -tls-listen, -tls-cert and
// -tls-key it also serves the same handler over HTTPS (printed second).
//
// With -sumdb set to a GOSUMDB value, goproxy's fetcher checks every .mod and
// .zip it fetches against that checksum database (lookup, dirhash.HashZip,
// zip.CheckZip); with -sumdb off it runs only zip.CheckZip. /sumdb/<name>/
// requests from clients are relayed to -sumdb-url unchanged.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/goproxy/goproxy"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "host:port to listen on")
	cacheDir := flag.String("cache", "", "disk cache folder (required)")
	upstream := flag.String("upstream", "", "upstream GOPROXY URL (required)")
	sumdb := flag.String("sumdb", "off", `GOSUMDB for the fetcher's own checks, or "off"`)
	sumdbName := flag.String("sumdb-name", "sum.golang.org", "checksum database name relayed under /sumdb/")
	sumdbURL := flag.String("sumdb-url", "", "URL that /sumdb/<name>/ requests are relayed to")
	tlsListen := flag.String("tls-listen", "", "host:port to serve HTTPS on as well (needs -tls-cert, -tls-key)")
	tlsCert := flag.String("tls-cert", "", "PEM certificate for -tls-listen")
	tlsKey := flag.String("tls-key", "", "PEM private key for -tls-listen")
	flag.Parse()
	if *cacheDir == "" || *upstream == "" {
		log.Fatal("-cache and -upstream are required")
	}
	tmp, err := os.MkdirTemp("", "goproxy-peer-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	env := append(os.Environ(),
		"GOPROXY="+*upstream,
		"GONOPROXY=",
		"GOPRIVATE=",
		"GONOSUMDB=",
		"GOSUMDB="+*sumdb,
	)
	var proxied []string
	if *sumdbURL != "" {
		proxied = []string{*sumdbName + " " + *sumdbURL}
	}
	g := &goproxy.Goproxy{
		Fetcher:       &goproxy.GoFetcher{Env: env, TempDir: tmp},
		Cacher:        goproxy.DirCacher(*cacheDir),
		ProxiedSumDBs: proxied,
		TempDir:       tmp,
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 30 * time.Second}
	var tlsSrv *http.Server
	var tlsLn net.Listener
	if *tlsListen != "" {
		if *tlsCert == "" || *tlsKey == "" {
			log.Fatal("-tls-listen needs -tls-cert and -tls-key")
		}
		if tlsLn, err = net.Listen("tcp", *tlsListen); err != nil {
			log.Fatal(err)
		}
		tlsSrv = &http.Server{Handler: g, ReadHeaderTimeout: 30 * time.Second}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
		if tlsSrv != nil {
			tlsSrv.Shutdown(shutdown)
		}
	}()
	fmt.Printf("listening on http://%s\n", ln.Addr())
	if tlsSrv != nil {
		fmt.Printf("listening on https://%s\n", tlsLn.Addr())
		go func() {
			if err := tlsSrv.ServeTLS(tlsLn, *tlsCert, *tlsKey); err != nil && err != http.ErrServerClosed {
				log.Fatal(err)
			}
		}()
	}
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
