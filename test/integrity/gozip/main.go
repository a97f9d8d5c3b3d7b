// Command gozip reads module zips the way the go command does and prints its
// verdict, for the differential test of modgate's zip reader.
//
// Input: JSON lines {"file","path","version"} on stdin. Output: one JSON line
// per input, {"ok":bool,"err":string,"h1":string}, in order.
package main

import (
	"archive/zip"
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

type request struct {
	File    string `json:"file"`
	Path    string `json:"path"`
	Version string `json:"version"`
}

type verdict struct {
	OK  bool   `json:"ok"`
	Err string `json:"err,omitempty"`
	H1  string `json:"h1,omitempty"`
}

// check mirrors what the go command does with a downloaded zip: HashZip for
// go.sum, then Unzip (CheckZip plus reading every file within its declared size).
func check(r request) verdict {
	m := module.Version{Path: r.Path, Version: r.Version}
	if _, err := modzip.CheckZip(m, r.File); err != nil {
		return verdict{Err: "checkzip: " + err.Error()}
	}
	h1, err := dirhash.HashZip(r.File, dirhash.Hash1)
	if err != nil {
		return verdict{Err: "hashzip: " + err.Error()}
	}
	z, err := zip.OpenReader(r.File)
	if err != nil {
		return verdict{Err: "open: " + err.Error()}
	}
	defer z.Close()
	for _, zf := range z.File {
		if strings.HasSuffix(zf.Name, "/") {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return verdict{Err: "unzip: " + err.Error()}
		}
		lr := &io.LimitedReader{R: rc, N: int64(zf.UncompressedSize64) + 1}
		_, err = io.Copy(io.Discard, lr)
		rc.Close()
		if err != nil {
			return verdict{Err: "unzip: " + err.Error()}
		}
		if lr.N <= 0 {
			return verdict{Err: fmt.Sprintf("unzip: %s larger than declared size", zf.Name)}
		}
	}
	return verdict{OK: true, H1: h1}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for in.Scan() {
		var r request
		if err := json.Unmarshal(in.Bytes(), &r); err != nil {
			fmt.Fprintln(os.Stderr, "gozip: bad request:", err)
			os.Exit(2)
		}
		if err := enc.Encode(check(r)); err != nil {
			os.Exit(2)
		}
		out.Flush()
	}
}
