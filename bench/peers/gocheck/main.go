// Command gocheck measures what Go's own module-zip checks cost: for each zip
// named on standard input (lines "MODULE VERSION FILE"), zip.CheckZip and
// dirhash.HashZip, one zip after another, as the go command runs them on a
// download. It prints one JSON object with the CPU seconds (user + system,
// from getrusage) and wall seconds spent, so that a gateway's CPU can be
// compared with the reference implementation's on the same bytes.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/zip"
)

type result struct {
	Zips        int     `json:"zips"`
	Bytes       int64   `json:"bytes"`
	CPUSeconds  float64 `json:"cpuSeconds"`
	WallSeconds float64 `json:"wallSeconds"`
}

func cpu() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	sec := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return sec(ru.Utime) + sec(ru.Stime)
}

func main() {
	type job struct {
		mod  module.Version
		file string
	}
	var jobs []job
	var out result
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		st, err := os.Stat(f[2])
		if err != nil {
			log.Fatal(err)
		}
		out.Bytes += st.Size()
		jobs = append(jobs, job{module.Version{Path: f[0], Version: f[1]}, f[2]})
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
	c0, t0 := cpu(), time.Now()
	for _, j := range jobs {
		if _, err := zip.CheckZip(j.mod, j.file); err != nil {
			log.Fatalf("%s: %v", j.file, err)
		}
		if _, err := dirhash.HashZip(j.file, dirhash.DefaultHash); err != nil {
			log.Fatalf("%s: %v", j.file, err)
		}
		out.Zips++
	}
	out.CPUSeconds = cpu() - c0
	out.WallSeconds = time.Since(t0).Seconds()
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
