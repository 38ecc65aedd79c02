// Package yamlconf decodes edgetail's YAML configs (the agent's and the
// hub's) strictly, and locates every problem found in them by key and line,
// so that one run of `edgetail check` shows them all.
package yamlconf

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a config, located in its file.
type Problem struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted path, e.g. sources[1].name
	Msg  string
}

func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Key == "" {
		return fmt.Sprintf("%s: %s", loc, p.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, p.Key, p.Msg)
}

// Error holds every problem found, so one run of `edgetail check` shows
// them all.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.String()
	}
	return strings.Join(msgs, "; ")
}

// Doc is a decoded document, kept for the lines of its keys. The zero Doc
// (or nil) knows no lines and no keys.
type Doc struct {
	name string
	root *yaml.Node
}

// Decode parses data into v, rejecting unknown keys. It returns the
// document and the problems found while decoding; err is set when nothing
// could be decoded (a syntax error), and then holds the problems. A value
// that failed to decode (an unknown key, a bad type) leaves the rest
// decoded, so that validation can go on and report more.
func Decode(data []byte, name string, v any) (*Doc, []Problem, error) {
	d := &Doc{name: name, root: new(yaml.Node)}
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(d.root); err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, &Error{problems(name, err)}
	}
	if len(d.root.Content) == 0 {
		return d, nil, nil
	}
	// Decode again through a strict decoder: yaml.v3 checks unknown keys
	// only when decoding from a Decoder.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		probs := problems(name, err)
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, nil, &Error{probs}
		}
		return d, probs, nil
	}
	return d, nil, nil
}

// Name is the file name problems are reported in; "flags" for a config
// made without a file.
func (d *Doc) Name() string {
	if d == nil {
		return "flags"
	}
	return d.name
}

// Has reports whether the YAML set a key (a zero it set is not the same as
// an absent key).
func (d *Doc) Has(path ...string) bool {
	if d == nil || d.root == nil || len(d.root.Content) == 0 {
		return false
	}
	n := d.root.Content[0]
	for _, k := range path {
		if n = mapValue(n, k); n == nil {
			return false
		}
	}
	return true
}

// Line finds the line of a dotted key like sources[2].files[0]; it falls
// back to the nearest parent that exists, and is 0 when none does.
func (d *Doc) Line(key string) int {
	if d == nil || d.root == nil || len(d.root.Content) == 0 {
		return 0
	}
	n := d.root.Content[0]
	line := n.Line
	for _, part := range strings.Split(key, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			name = part[:i]
			fmt.Sscanf(part[i:], "[%d]", &idx)
		}
		n = mapValue(n, name)
		if n == nil {
			return line
		}
		line = n.Line
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

// Problem makes a problem of key, located in the document.
func (d *Doc) Problem(key, format string, args ...any) Problem {
	return Problem{File: d.Name(), Line: d.Line(key), Key: key, Msg: fmt.Sprintf(format, args...)}
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			if v := n.Content[i+1]; v.Kind != yaml.ScalarNode || v.Value != "" {
				return v
			}
			return n.Content[i] // an empty value: point at the key
		}
	}
	return nil
}

// Merge adds validation problems to the decode ones, leaving out those on
// a line that already has one: a value that failed to decode is left at its
// zero value, and validating that says nothing new. The result is sorted by
// line.
func Merge(decoded, validated []Problem) []Problem {
	lines := make(map[int]bool, len(decoded))
	for _, p := range decoded {
		lines[p.Line] = true
	}
	for _, p := range validated {
		if p.Line == 0 || !lines[p.Line] {
			decoded = append(decoded, p)
		}
	}
	slices.SortStableFunc(decoded, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return decoded
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// problems turns yaml.v3's messages ("line 3: field x not found in type
// agent.Config") into Problems that name the key and the line.
func problems(name string, err error) []Problem {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var out []Problem
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		p := Problem{File: name, Msg: m}
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			fmt.Sscan(sm[1], &p.Line)
			p.Msg = sm[2]
			if strings.HasPrefix(p.Msg, "field ") && strings.Contains(p.Msg, " not found in type ") {
				field := strings.TrimPrefix(p.Msg, "field ")
				field = field[:strings.Index(field, " ")]
				p.Key, p.Msg = field, "unknown key"
			}
			p.Msg = strings.ReplaceAll(p.Msg, "time.Duration", "duration (like 2s or 500ms)")
		}
		out = append(out, p)
	}
	return out
}
