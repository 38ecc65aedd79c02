package history

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Sibling is a rotated file of a followed file.
type Sibling struct {
	Path        string
	Compression Compression
	rank        int64 // higher is newer within its kind
	dated       bool
}

// Compression names how a file is stored.
type Compression uint8

// The compressions a sibling may have.
const (
	Plain Compression = iota
	Gzip
	Zstd
)

// compressionOf tells a file's compression by its suffix, and returns the
// name without it.
func compressionOf(name string) (Compression, string) {
	switch {
	case strings.HasSuffix(name, ".gz"):
		return Gzip, strings.TrimSuffix(name, ".gz")
	case strings.HasSuffix(name, ".zst"):
		return Zstd, strings.TrimSuffix(name, ".zst")
	}
	return Plain, name
}

// Siblings lists the rotated files of path in its directory, oldest first:
// NAME-DATE and NAME-DATE.gz/.zst (the older date first), then NAME.N and
// NAME.N.gz/.zst (the higher N first). Dated siblings come first because a
// directory holding both kinds has usually switched from numbers to dates
// in the past, not the other way round. The file itself is not listed.
func Siblings(path string) ([]Sibling, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Sibling
	for _, e := range ents {
		name := e.Name()
		if len(name) <= len(base)+1 || !strings.HasPrefix(name, base) || e.IsDir() {
			continue
		}
		comp, stem := compressionOf(name)
		rest := stem[len(base):]
		if len(rest) < 2 {
			continue
		}
		s := Sibling{Path: filepath.Join(dir, name), Compression: comp}
		switch rest[0] {
		case '.':
			n, err := strconv.ParseInt(rest[1:], 10, 64)
			if err != nil || n < 0 || rest[1] == '+' || rest[1] == '-' {
				continue
			}
			s.rank = -n
		case '-', '_':
			d := strings.NewReplacer("-", "", "_", "", "T", "").Replace(rest[1:])
			n, err := strconv.ParseInt(d, 10, 64)
			if err != nil || n < 0 || len(d) < 6 || d[0] == '+' {
				continue
			}
			// Pad so that 20261201 and 2026120113 compare as dates.
			for len(d) < 14 {
				d += "0"
				n *= 10
			}
			s.rank, s.dated = n, true
		default:
			continue
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].dated != out[j].dated {
			return out[i].dated
		}
		if out[i].rank != out[j].rank {
			return out[i].rank < out[j].rank
		}
		// The same rotation kept twice (app.log.1 and app.log.1.gz during
		// a compression): the plain one is the newer copy.
		return out[i].Compression > out[j].Compression
	})
	return out, nil
}
