package journal

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseEntry(t *testing.T) {
	const cur = `"__CURSOR":"s=1;i=2"`
	for _, tc := range []struct {
		name, in string
		want     Entry
	}{
		{"plain", `{` + cur + `,"MESSAGE":"hello","PRIORITY":"3","_PID":"42","SYSLOG_IDENTIFIER":"app","_SYSTEMD_UNIT":"nginx.service","_BOOT_ID":"b1","__REALTIME_TIMESTAMP":"1796159665189736"}`,
			Entry{Cursor: "s=1;i=2", Message: []byte("hello"), Priority: 3, PID: 42, Identifier: "app", Unit: "nginx.service", Boot: "b1", Time: time.UnixMicro(1796159665189736)}},
		{"binary message", `{"MESSAGE":[108,105,10,13,0,255],` + cur + `}`,
			Entry{Cursor: "s=1;i=2", Message: []byte("li\n\r\x00\xff"), Priority: -1}},
		{"repeated", `{` + cur + `,"MESSAGE":["a","b"],"SYSLOG_IDENTIFIER":["x","y"]}`,
			Entry{Cursor: "s=1;i=2", Message: []byte("a\nb"), Identifier: "x", Priority: -1}},
		{"repeated binary", `{` + cur + `,"MESSAGE":[[104,105],"yo"]}`,
			Entry{Cursor: "s=1;i=2", Message: []byte("hi\nyo"), Priority: -1}},
		{"null and skipped", `{"MESSAGE":null,"OTHER":{"a":[1,2,{"b":null}]},"N":-1.5e3,"T":true,"F":false,` + cur + `}`,
			Entry{Cursor: "s=1;i=2", Priority: -1}},
		{"escapes", `{` + cur + `,"MESSAGE":"a\"b\\c\u00e9\ud83d\ude00\n\t\u0001 é"}`,
			Entry{Cursor: "s=1;i=2", Message: []byte("a\"b\\cé😀\n\t\x01 é"), Priority: -1}},
		{"bad priority", `{` + cur + `,"PRIORITY":"9","_PID":"x"}`, Entry{Cursor: "s=1;i=2", Priority: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEntry([]byte(tc.in + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Time.Equal(tc.want.Time) {
				t.Errorf("time %v, want %v", got.Time, tc.want.Time)
			}
			got.Time, tc.want.Time = time.Time{}, time.Time{}
			if !bytes.Equal(got.Message, tc.want.Message) {
				t.Errorf("message %q, want %q", got.Message, tc.want.Message)
			}
			got.Message, tc.want.Message = nil, nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{``, `{`, `[]`, `{"MESSAGE":"x"}`, `{"__CURSOR":"c"} x`, `{"__CURSOR":"c","MESSAGE":[1,"a"]}`,
		`{"__CURSOR":"c","MESSAGE":[256]}`, `{"__CURSOR":"c" "x":1}`, `{"__CURSOR":"c\u12"}`, "{\"__CURSOR\":\"a\x01\"}"} {
		if _, err := ParseEntry([]byte(bad)); err == nil {
			t.Errorf("ParseEntry(%q) succeeded", bad)
		}
	}
}

// FuzzParseEntry: the parser never panics, and on input encoding/json
// reads as an object of strings, it agrees with it.
func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{
		`{"__CURSOR":"s=1","MESSAGE":"hi","PRIORITY":"6"}`,
		`{"__CURSOR":"s=1","MESSAGE":[104,255,0]}`,
		`{"__CURSOR":"s=1","MESSAGE":["a","b"],"X":[[1],[2]]}`,
		`{"__CURSOR":"s=1","MESSAGE":null,"Y":{"z":[true,false,null,1e5]}}`,
		`{"__CURSOR":"s=1","MESSAGE":"\ud800x\u00e9\\\"/"}`,
		`{"a":`, `{"__CURSOR":"`, `[`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			return
		}
		if e.Cursor == "" || e.Priority < -1 || e.Priority > 7 {
			t.Fatalf("bad entry %+v", e)
		}
		var m map[string]string
		if json.Unmarshal(b, &m) == nil && utf8.Valid(b) && !bytes.Contains(b, []byte(`\u`)) {
			if c, ok := m["__CURSOR"]; ok && c != e.Cursor {
				t.Fatalf("cursor %q, encoding/json %q", e.Cursor, c)
			}
			if msg, ok := m["MESSAGE"]; ok && msg != string(e.Message) {
				t.Fatalf("message %q, encoding/json %q", e.Message, msg)
			}
		}
	})
}
