package agent

import (
	"os/exec"
	"reflect"
	"testing"
)

// The embedded default follows the whole system journal where journalctl
// exists, and only there.
func TestDefaultConfigJournal(t *testing.T) {
	c := DefaultConfig()
	_, err := exec.LookPath("journalctl")
	hasJournal := len(c.Sources) == 3 && c.Sources[2].Name == "journal" && c.Sources[2].Journal != nil &&
		reflect.DeepEqual(*c.Sources[2].Journal, JournalConfig{})
	if (err == nil) != hasJournal {
		t.Fatalf("journalctl found: %v; sources %+v", err == nil, c.Sources)
	}
}
