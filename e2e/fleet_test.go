package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	natsOnce   sync.Once
	natsBinary string
	natsErr    error
)

// buildNATS builds nats-server from the version pinned in go.mod, once per
// run: Debian's is too old for multi-subject consumer filters.
func buildNATS(t *testing.T) string {
	t.Helper()
	natsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "edgetail-nats")
		if err != nil {
			natsErr = err
			return
		}
		natsBinary = filepath.Join(dir, "nats-server")
		cmd := exec.Command("go", "build", "-o", natsBinary, "github.com/nats-io/nats-server/v2")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			natsErr = fmt.Errorf("build nats-server: %v\n%s", err, out)
		}
	})
	if natsErr != nil {
		t.Fatal(natsErr)
	}
	return natsBinary
}

// startNATSServer runs a JetStream nats-server process on 127.0.0.1 and
// stops it, by its PID, when the test ends.
func startNATSServer(t *testing.T) string {
	t.Helper()
	return newNATSProc(t).url()
}

// startHub runs `edgetail hub` and waits until it reaches NATS.
func startHub(t *testing.T, natsURL string) *agent {
	t.Helper()
	return startHubOn(t, natsURL, "127.0.0.1:0")
}

// Two agents publish to a real nats-server process; the hub's /stream,
// read like curl -N reads it, gets the lines of both hosts.
func TestFleetTwoAgentsOneHub(t *testing.T) {
	natsURL := startNATSServer(t)
	dir := t.TempDir()
	var logs []string
	for _, host := range []string{"web-1", "db-1"} {
		path := filepath.Join(dir, host+".log")
		os.WriteFile(path, nil, 0o644)
		logs = append(logs, path)
		start(t, fmt.Sprintf(`sources:
  - name: app
    files: [%s]
    publish: true
fleet:
  nats: [%s]
  host: %s
`, path, natsURL, host))
	}
	hub := startHub(t, natsURL)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hub.url+"/stream?tail=0&format=text", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("hub /stream: %s", resp.Status)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				lines <- d
			}
		}
	}()
	// Each host writes one line; both reach the hub. The time each took is
	// reported, not asserted (speed is for benchmarks).
	for i, host := range []string{"web-1", "db-1"} {
		want := fmt.Sprintf("[%s/app] hello from %s", host, host)
		written := time.Now()
		appendLines(t, logs[i], "hello from "+host)
		for got := false; !got; {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("hub stream ended")
				}
				got = l == want
			case <-time.After(20 * time.Second):
				t.Fatalf("%q did not reach the hub", want)
			}
		}
		t.Logf("%s: file write to hub stream in %v", host, time.Since(written).Round(time.Millisecond))
	}
	// The host table reads the stream through its own consumer, so it may
	// lag the view by a moment: ask again until it has both hosts.
	var hosts string
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp2, err := http.Get(hub.url + "/api/hosts")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp2.Body)
		resp2.Body.Close()
		hosts = string(b)
		if strings.Contains(hosts, `"host":"web-1"`) && strings.Contains(hosts, `"host":"db-1"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/api/hosts = %s", hosts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
