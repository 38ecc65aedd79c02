package journal

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// Options configure a Journal. Every zero value means the default in
// brackets. Everything that reaches journalctl's command line is checked by
// New first.
type Options struct {
	Units       []string // _SYSTEMD_UNIT values, any of them; ".service" is added when there is no dot [all]
	Identifiers []string // SYSLOG_IDENTIFIER values, any of them [all]
	Matches     []string // FIELD=VALUE, FIELD is [A-Z0-9_]+; one field's values are ORed, fields ANDed [none]
	Priority    string   // keep entries at this priority or more urgent: a syslog name or 0-7 [all]
	Directory   string   // read this journal directory instead of the system journal [system]
	Namespace   string   // or this journal namespace [the default one]
	Journalctl  string   // the journalctl binary ["journalctl" from PATH]
	// Prefill is how many of the newest entries are read at the first
	// start, before following: the replay buffer's content [0: none].
	Prefill int
	// After is the cursor of the last entry already delivered (by an
	// earlier producer of the same source): the first start resumes right
	// after it instead of reading Prefill entries ["": Prefill].
	After string
	// MinBackoff and MaxBackoff bound the jittered wait before journalctl
	// is started again after it exited [100ms, 10s].
	MinBackoff, MaxBackoff time.Duration
	Logger                 *zap.Logger // [no logs]
}

var (
	fieldName  = regexp.MustCompile(`^[A-Z0-9_]+$`)
	unitName   = regexp.MustCompile(`^[A-Za-z0-9:_.@\\-]+$`)
	nsName     = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	priorities = map[string]int{
		"emerg": 0, "alert": 1, "crit": 2, "err": 3, "error": 3,
		"warning": 4, "warn": 4, "notice": 5, "info": 6, "debug": 7,
	}
)

// maxValueLen bounds every value handed to journalctl.
const maxValueLen = 512

// NormalizeUnit returns the unit name journalctl is given: ".service" is
// added when the name has no dot.
func NormalizeUnit(u string) string {
	if !strings.Contains(u, ".") {
		return u + ".service"
	}
	return u
}

// CheckUnit validates a unit name.
func CheckUnit(u string) error {
	if len(u) == 0 || len(u) > 256 || !unitName.MatchString(u) || strings.HasPrefix(u, "-") {
		return fmt.Errorf("%q is not a unit name ([A-Za-z0-9:_.@-], up to 256 bytes)", u)
	}
	return nil
}

// CheckIdentifier validates a SYSLOG_IDENTIFIER value.
func CheckIdentifier(id string) error {
	if id == "" {
		return errors.New("empty identifier")
	}
	return checkValue(id)
}

func checkValue(v string) error {
	if len(v) > maxValueLen {
		return fmt.Errorf("value is longer than %d bytes", maxValueLen)
	}
	if !utf8.ValidString(v) {
		return errors.New("value is not valid UTF-8")
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%q holds a control character", v)
		}
	}
	return nil
}

// CheckMatch validates a FIELD=VALUE match.
func CheckMatch(m string) error {
	field, value, ok := strings.Cut(m, "=")
	if !ok || !fieldName.MatchString(field) || len(field) > 64 {
		return fmt.Errorf("%q is not FIELD=VALUE with FIELD in [A-Z0-9_]+", m)
	}
	return checkValue(value)
}

// ParsePriority reads a syslog priority name or number 0-7.
func ParsePriority(p string) (int, error) {
	if n, ok := priorities[strings.ToLower(p)]; ok {
		return n, nil
	}
	if n, err := strconv.Atoi(p); err == nil && n >= 0 && n <= 7 && len(p) == 1 {
		return n, nil
	}
	return 0, fmt.Errorf("%q is not a priority (emerg, alert, crit, err, warning, notice, info, debug or 0-7)", p)
}

// CheckDirectory validates a journal directory path.
func CheckDirectory(d string) error {
	if !filepath.IsAbs(d) {
		return fmt.Errorf("%q is not an absolute path", d)
	}
	return checkValue(d)
}

// CheckNamespace validates a journal namespace name.
func CheckNamespace(ns string) error {
	if len(ns) > 64 || !nsName.MatchString(ns) || strings.HasPrefix(ns, "-") {
		return fmt.Errorf("%q is not a namespace name ([A-Za-z0-9_.-], up to 64 bytes)", ns)
	}
	return nil
}

// validate checks every option and returns the arguments of journalctl
// that select the entries (location and matches), common to every run.
func (o *Options) validate() (opts, matches []string, err error) {
	var errs []error
	var args []string
	if o.Directory != "" && o.Namespace != "" {
		errs = append(errs, errors.New("directory and namespace exclude each other"))
	}
	if o.Directory != "" {
		if err := CheckDirectory(o.Directory); err != nil {
			errs = append(errs, fmt.Errorf("directory: %w", err))
		}
		args = append(args, "--directory="+o.Directory)
	}
	if o.Namespace != "" {
		if err := CheckNamespace(o.Namespace); err != nil {
			errs = append(errs, fmt.Errorf("namespace: %w", err))
		}
		args = append(args, "--namespace="+o.Namespace)
	}
	if o.Priority != "" {
		p, err := ParsePriority(o.Priority)
		if err != nil {
			errs = append(errs, fmt.Errorf("priority: %w", err))
		}
		args = append(args, "--priority="+strconv.Itoa(p))
	}
	if o.Prefill < 0 {
		errs = append(errs, errors.New("prefill must be >= 0"))
	}
	if o.After != "" && !ValidCursor(o.After) {
		errs = append(errs, fmt.Errorf("after: %q is not a journal cursor", o.After))
	}
	// Matches go after "--", so that nothing in them can be read as an
	// option; they are checked above all for that.
	for _, u := range o.Units {
		if err := CheckUnit(u); err != nil {
			errs = append(errs, fmt.Errorf("units: %w", err))
		}
		matches = append(matches, "_SYSTEMD_UNIT="+NormalizeUnit(u))
	}
	for _, id := range o.Identifiers {
		if err := CheckIdentifier(id); err != nil {
			errs = append(errs, fmt.Errorf("identifiers: %w", err))
		}
		matches = append(matches, "SYSLOG_IDENTIFIER="+id)
	}
	for _, m := range o.Matches {
		if err := CheckMatch(m); err != nil {
			errs = append(errs, fmt.Errorf("matches: %w", err))
		}
		matches = append(matches, m)
	}
	if o.Journalctl == "" {
		o.Journalctl = "journalctl"
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return args, matches, errors.Join(errs...)
}

// ValidCursor reports whether c looks like a journal cursor: what
// journalctl prints as __CURSOR (s=...;i=...;...), printable ASCII with no
// spaces, bounded. It is handed to journalctl as
// one --cursor= argument, so this is about keeping it sane, not safe.
func ValidCursor(c string) bool {
	if len(c) == 0 || len(c) > 512 || !strings.HasPrefix(c, "s=") {
		return false
	}
	for i := 0; i < len(c); i++ {
		if c[i] <= ' ' || c[i] > '~' {
			return false
		}
	}
	return true
}
