package ui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

// The page's scripts are ES modules: each is served as JavaScript (a
// browser refuses a module of any other type), and each module it imports
// is embedded.
func TestModulesServedAsJavaScript(t *testing.T) {
	importRE := regexp.MustCompile(`(?m)^import [^;]*? from "([^"]+)";`)
	h := Handler()
	n := 0
	err := fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		n++
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/"+p, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("GET /ui/%s: %d %q", p, rec.Code, rec.Header().Get("Content-Type"))
		}
		for _, m := range importRE.FindAllStringSubmatch(rec.Body.String(), -1) {
			dep := path.Join(path.Dir(p), m[1])
			if _, err := fs.Stat(sub, dep); err != nil || !strings.HasPrefix(m[1], "./") {
				t.Errorf("%s imports %q: not an embedded module (%v)", p, m[1], err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Errorf("%d scripts embedded", n)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/js/missing.js", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET a missing script: %d", rec.Code)
	}
}
