package journal

import (
	"slices"
	"strings"
	"testing"
)

func TestOptionsArgs(t *testing.T) {
	j, err := New(Options{Units: []string{"nginx", "a.socket"}, Identifiers: []string{"sshd"}, Matches: []string{"_TRANSPORT=kernel"},
		Priority: "warning", Directory: "/var/log/journal/x"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(j.args("--follow"), " ")
	want := "--output=json --all --no-pager --quiet --output-fields=" + outputFields +
		" --follow --directory=/var/log/journal/x --priority=4 -- _SYSTEMD_UNIT=nginx.service _SYSTEMD_UNIT=a.socket SYSLOG_IDENTIFIER=sshd _TRANSPORT=kernel"
	if got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, o := range []Options{
		{Units: []string{"-f"}}, {Units: []string{"a b"}}, {Units: []string{""}},
		{Identifiers: []string{""}}, {Identifiers: []string{"a\nb"}},
		{Matches: []string{"lower=x"}}, {Matches: []string{"NOEQUALS"}}, {Matches: []string{"=x"}}, {Matches: []string{"A=\x00"}},
		{Priority: "8"}, {Priority: "loud"}, {Priority: "07"},
		{Directory: "relative"}, {Namespace: "a/b"}, {Namespace: "-x"}, {Directory: "/a", Namespace: "b"},
		{Prefill: -1}, {After: "not a cursor"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	for p, want := range map[string]int{"emerg": 0, "ERR": 3, "warning": 4, "info": 6, "7": 7, "0": 0} {
		if n, err := ParsePriority(p); err != nil || n != want {
			t.Errorf("ParsePriority(%q) = %d, %v", p, n, err)
		}
	}
	if !slices.Equal([]string{NormalizeUnit("x"), NormalizeUnit("x.timer")}, []string{"x.service", "x.timer"}) {
		t.Error("NormalizeUnit")
	}
}
