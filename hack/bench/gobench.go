package main

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// modulePrefix is cut from package paths in reports.
const modulePrefix = "github.com/failover-webhook/failover-webhook/"

// GoBenchmark is one result line of `go test -bench -benchmem`.
type GoBenchmark struct {
	Package     string  `json:"package"`
	Name        string  `json:"name"`
	Procs       int     `json:"procs"`
	Iterations  int64   `json:"iterations"`
	NsPerOp     float64 `json:"ns_per_op"`
	MBPerS      float64 `json:"mb_per_s,omitempty"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
}

// ParseGoBench reads the output of `go test -bench -benchmem` over one or
// more packages. Lines that are not results are skipped.
func ParseGoBench(r io.Reader) ([]GoBenchmark, error) {
	var out []GoBenchmark
	pkg := ""
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for s.Scan() {
		line := s.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(strings.TrimSpace(p), modulePrefix)
			continue
		}
		if b, ok := parseBenchLine(line); ok {
			b.Package = pkg
			out = append(out, b)
		}
	}
	return out, s.Err()
}

// parseBenchLine parses "BenchmarkName-P  N  v unit  v unit ...". The
// testing package writes spaces in sub-benchmark names as underscores.
func parseBenchLine(line string) (GoBenchmark, bool) {
	fields := strings.Fields(line)
	if !strings.HasPrefix(line, "Benchmark") || len(fields) < 4 {
		return GoBenchmark{}, false
	}
	b := GoBenchmark{Name: strings.TrimPrefix(fields[0], "Benchmark"), Procs: 1}
	fields = fields[1:]
	if i := strings.LastIndex(b.Name, "-"); i > 0 {
		if p, err := strconv.Atoi(b.Name[i+1:]); err == nil {
			b.Name, b.Procs = b.Name[:i], p
		}
	}
	n, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return GoBenchmark{}, false
	}
	b.Iterations = n
	for i := 1; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return GoBenchmark{}, false
		}
		switch fields[i+1] {
		case "ns/op":
			b.NsPerOp = v
		case "MB/s":
			b.MBPerS = v
		case "B/op":
			b.BytesPerOp = v
		case "allocs/op":
			b.AllocsPerOp = v
		}
	}
	return b, true
}
