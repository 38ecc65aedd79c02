package tailer

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// hasMeta reports whether a pattern contains filepath.Match metacharacters.
func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// excluded reports whether an exclude pattern matches the base name or the
// full path: "*.gz" is meant for names, "/var/log/old/*" for paths.
func (t *Tailer) excluded(path string) bool {
	base := filepath.Base(path)
	for _, x := range t.opts.Exclude {
		if ok, _ := filepath.Match(x, base); ok {
			return true
		}
		if ok, _ := filepath.Match(x, path); ok {
			return true
		}
	}
	return false
}

// wanted reports whether path matches a glob and no exclude pattern. It is
// used on event names, so that an event is checked without a full re-glob.
func (t *Tailer) wanted(path string) bool {
	if t.excluded(path) {
		return false
	}
	for _, g := range t.globs {
		if g == path {
			return true
		}
		if ok, _ := filepath.Match(g, path); ok {
			return true
		}
	}
	return false
}

// scan lists the regular files currently matching the globs (de-duplicated,
// excludes applied, sorted) and the literal paths, which are expected even
// when absent.
func (t *Tailer) scan() []string {
	set := make(map[string]bool)
	for _, g := range t.globs {
		if t.literals[g] {
			if !t.excluded(g) {
				set[g] = true
			}
			continue
		}
		matches, _ := filepath.Glob(g) // patterns were validated in New
		for _, m := range matches {
			if t.excluded(m) {
				continue
			}
			// Directories and other non-regular files matching a glob are not
			// logs; a literal path is taken as given (it may be a FIFO...).
			if fi, err := os.Stat(m); err == nil && !fi.Mode().IsRegular() {
				continue
			}
			set[m] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// dirs lists the existing directories that hold the globs' files; a glob
// whose directory part has metacharacters is expanded.
func (t *Tailer) dirs() []string {
	set := make(map[string]bool)
	for _, g := range t.globs {
		d := filepath.Dir(g)
		if !hasMeta(d) {
			set[d] = true
			continue
		}
		ms, _ := filepath.Glob(d)
		for _, m := range ms {
			if fi, err := os.Stat(m); err == nil && fi.IsDir() {
				set[m] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// errLinkEscapes refuses a symlink that leads out of the source's globs.
type errLinkEscapes struct{ target string }

func (e errLinkEscapes) Error() string {
	return "symlink to " + e.target + ", which the source's globs do not name"
}

// checkLink decides whether a path may be followed when it is a symlink.
// A matching name is not enough: a log file replaced by a link to
// /etc/shadow would otherwise be streamed to anyone who may read the logs.
// So every hop of the link must itself be named by the globs (and not
// excluded). Symlinked directories above the file are taken as configured.
func (t *Tailer) checkLink(p string) error {
	cur := p
	for range 8 {
		fi, err := os.Lstat(cur)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			return nil
		}
		target, err := os.Readlink(cur)
		if err != nil {
			return nil
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(cur), target)
		}
		target = filepath.Clean(target)
		if !t.wanted(target) {
			return errLinkEscapes{target}
		}
		cur = target
	}
	return errLinkEscapes{cur}
}
