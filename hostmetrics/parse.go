package hostmetrics

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// maxLineBytes bounds one /proc line. The "intr" line of /proc/stat on a
// large machine can exceed bufio.Scanner's 64 KiB default, and a line longer
// than this is an error rather than an unbounded allocation.
const maxLineBytes = 1 << 20

// newScanner returns a line scanner whose buffer can grow to maxLineBytes.
func newScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	return sc
}

// eachRecord calls fn with the whitespace-separated fields of every
// non-empty line that has at least minFields of them; shorter lines are
// reported as malformed and skipped. The error joins the scanner's error,
// else the lines fn or the field check found bad.
func eachRecord(r io.Reader, minFields int, fn func(line int, fields []string, bad *lineErrors)) error {
	var bad lineErrors
	sc := newScanner(r)
	line := 0
	for sc.Scan() {
		line++
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) < minFields {
			bad.addf(line, "%d fields, want at least %d", len(fields), minFields)
			continue
		}
		fn(line, fields, &bad)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return bad.err()
}

// maxLineErrors is how many malformed lines one error message spells out;
// the rest are only counted, so a garbage file cannot produce a huge message.
const maxLineErrors = 3

// lineErrors collects per-line parse problems so that a parser can skip a bad
// line, keep the good ones and still report what it skipped.
type lineErrors struct {
	n    int
	msgs []string
}

func (l *lineErrors) addf(line int, format string, args ...any) {
	l.n++
	if len(l.msgs) < maxLineErrors {
		l.msgs = append(l.msgs, fmt.Sprintf("line %d: ", line)+fmt.Sprintf(format, args...))
	}
}

// err returns nil when no line was bad. Messages are joined with "; " rather
// than errors.Join's newlines because they end up in one JSON string and one
// log line.
func (l *lineErrors) err() error {
	if l.n == 0 {
		return nil
	}
	msg := strings.Join(l.msgs, "; ")
	if more := l.n - len(l.msgs); more > 0 {
		msg += fmt.Sprintf("; and %d more malformed lines", more)
	}
	return errors.New(msg)
}

// parseUint parses one decimal counter field.
func parseUint(s string) (uint64, error) {
	return strconv.ParseUint(s, 10, 64)
}

// errNotRegular refuses files that could block a read.
var errNotRegular = errors.New("not a regular file")

// readWith opens path and hands it to parse. Errors name the file, and the
// open error is unwrapped from its *fs.PathError so the path is not repeated.
// A partial result from parse is returned together with its error.
//
// The file is opened non-blocking and must be a regular file (as every /proc
// and /sys file is): a FIFO or device planted under a configured root could
// otherwise block a sample, and with it the stream and the shutdown, forever.
func readWith[T any](path string, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return zero, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return zero, fmt.Errorf("read %s: %w", path, errNotRegular)
	}
	v, err := parse(f)
	if err != nil {
		return v, fmt.Errorf("read %s: %w", path, err)
	}
	return v, nil
}

// round2 rounds to two decimals: the JSON stays short and nobody needs more
// precision than that from a 2-second sample.
func round2(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return math.Round(x*100) / 100
}

// rate turns a counter delta into a per-second rate. A counter that went
// backwards (reset, 32-bit wrap, device replaced) or a non-positive elapsed
// time yields 0: an honest "unknown" is better than a negative or absurd rate.
func rate(prev, cur uint64, seconds float64) float64 {
	return round2(rawRate(prev, cur, seconds))
}

// rawRate is rate without rounding, for callers that scale it first.
func rawRate(prev, cur uint64, seconds float64) float64 {
	if cur < prev || seconds <= 0 {
		return 0
	}
	return float64(cur-prev) / seconds
}

// rateState holds the previous counters of one source (disks, interfaces),
// keyed by name, with the time they were read. Keeping the time per source
// means a source that failed to read once simply restarts at rate 0 instead
// of computing a delta over the wrong interval.
type rateState[T any] struct {
	at   time.Time
	prev map[string]T
}
