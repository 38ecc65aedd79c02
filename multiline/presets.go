package multiline

import "bytes"

// ruleKind is a built-in rule, or the start expression.
type ruleKind uint8

const (
	ruleStart ruleKind = iota
	ruleJava
	rulePython
	ruleGo
	ruleRuby
	ruleDotnet
	ruleIndent
)

var presetKinds = map[string]ruleKind{
	"java": ruleJava, "python": rulePython, "go": ruleGo,
	"ruby": ruleRuby, "dotnet": ruleDotnet, "indent": ruleIndent,
}

// state is what a rule remembers of the lines before: where in a Python
// traceback or a Go dump the file is.
type state uint8

const (
	stNone      state = iota
	stPyTrace         // after "Traceback (most recent call last):", in its frames
	stPyAfter         // after a traceback's exception line
	stPyChained       // after "During handling of ..." or "The above exception ...", before the next Traceback
	stGoDump          // after "panic:", "fatal error:", a signal or "goroutine N [...]:"
)

// continues reports whether line continues the event before it, updating
// the rule's memory. Every check is a bounded look at the line's first
// bytes, with no allocation: it runs on every line of a multiline source.
// The start expression alone reads the whole line.
func (r *Rules) continues(st *state, line []byte) bool {
	switch r.kind {
	case ruleStart:
		return !r.start.Match(line)
	case ruleIndent:
		return indented(line)
	case ruleJava:
		return javaContinues(line)
	case rulePython:
		return pythonContinues(st, line)
	case ruleGo:
		return goContinues(st, line)
	case ruleRuby:
		return rubyContinues(line)
	case ruleDotnet:
		return dotnetContinues(line)
	}
	return false
}

// indented: the line starts with a space or a tab (a frame, the body of an
// indented block).
func indented(l []byte) bool { return len(l) > 0 && (l[0] == ' ' || l[0] == '\t') }

func blank(l []byte) bool { return len(bytes.TrimLeft(l, " \t")) == 0 }

func hasPrefix(l []byte, p string) bool { return len(l) >= len(p) && string(l[:len(p)]) == p }

// javaContinues: a JVM stack trace (Java, Kotlin, Scala), as logback,
// log4j, java.util.logging and Spring Boot write it: indented frames
// (`\tat ...`, `\t... 42 more`, `\t... 12 common frames omitted`,
// `\tSuppressed: ...`), `Caused by: ...`, the exception's own line
// (`java.lang.IllegalStateException: boom`, a qualified class name ending
// in Exception, Error or Throwable) and blank lines (Spring Boot puts one
// between "with root cause" and the exception).
func javaContinues(l []byte) bool {
	if len(l) == 0 || indented(l) {
		return true
	}
	switch l[0] {
	case 'C':
		return hasPrefix(l, "Caused by: ")
	case 'S':
		if hasPrefix(l, "Suppressed: ") {
			return true
		}
	case '.':
		return hasPrefix(l, "... ")
	}
	return exceptionHeader(l)
}

// exceptionHeader reports a line that names an exception's class, qualified
// (at least one dot), alone or before a colon: `java.lang.NullPointerException`,
// `com.acme.Foo$BarError: bad`, `System.InvalidOperationException: boom`,
// `scala.MatchError: 3`. A log line (a timestamp, a level word, a sentence)
// fails at its first byte or space.
func exceptionHeader(l []byte) bool {
	dots, seg := 0, 0
	i := 0
	for ; i < len(l) && i < 256; i++ {
		c := l[i]
		switch {
		case c == '.':
			if i == seg { // empty segment
				return false
			}
			dots++
			seg = i + 1
		case c == '$' || c == '_' || c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9' && i > seg:
		case c == ':':
			goto end
		default:
			return false
		}
	}
	if i < len(l) {
		return false
	}
end:
	if dots == 0 || seg >= i {
		return false
	}
	name := l[seg:i]
	return bytes.HasSuffix(name, []byte("Exception")) || bytes.HasSuffix(name, []byte("Error")) ||
		bytes.HasSuffix(name, []byte("Throwable")) || bytes.Contains(name, []byte("Exception"))
}

// pythonContinues: a Python traceback (logging.exception, Django's
// "Internal Server Error" log): `Traceback (most recent call last):` joins
// the line before it (the log message it explains), its indented frames
// and source lines follow, then the exception's line, which ends it;
// chained tracebacks ("During handling of the above exception, another
// exception occurred:", "The above exception was the direct cause of the
// following exception:") and the blank lines around them stay in the same
// event. Indented lines continue anywhere.
func pythonContinues(st *state, l []byte) bool {
	if hasPrefix(l, "Traceback (most recent call last):") {
		*st = stPyTrace
		return true
	}
	if indented(l) {
		return true
	}
	switch *st {
	case stPyTrace:
		if len(l) == 0 {
			return true
		}
		*st = stPyAfter // the exception's line
		return true
	case stPyAfter, stPyChained:
		if len(l) == 0 {
			return true
		}
		if hasPrefix(l, "During handling of the above exception") || hasPrefix(l, "The above exception was the direct cause") {
			*st = stPyChained
			return true
		}
	}
	*st = stNone
	return false
}

// goContinues: a Go panic or fatal error with its goroutine dumps, and the
// dump a SIGQUIT prints. "panic: ", "fatal error: ", "SIGQUIT: quit" (any
// "SIGxxx: ") and "goroutine N [...]:" outside a dump start one; within it,
// blank lines, indented lines (file:line), "goroutine N ...", function lines
// (`main.main()`, `net/http.(*conn).serve(0xc000...)`), "created by ...",
// "[signal ...", register lines and "exit status N" continue. The first
// other line ends the dump. Indented lines continue anywhere.
func goContinues(st *state, l []byte) bool {
	if hasPrefix(l, "panic: ") || hasPrefix(l, "fatal error: ") || goSignal(l) {
		*st = stGoDump
		return false
	}
	if *st != stGoDump {
		if goroutineHeader(l) {
			*st = stGoDump
			return false
		}
		return indented(l)
	}
	switch {
	case len(l) == 0, indented(l), goroutineHeader(l),
		hasPrefix(l, "created by "), hasPrefix(l, "[signal "), hasPrefix(l, "exit status "),
		hasPrefix(l, "..."), hasPrefix(l, "PC="), hasPrefix(l, "[recovered]"),
		goFrame(l), goRegister(l):
		return true
	}
	*st = stNone
	return false
}

// goSignal: "SIGQUIT: quit", "SIGSEGV: segmentation violation", the first
// line of a dump on a signal.
func goSignal(l []byte) bool {
	if !hasPrefix(l, "SIG") {
		return false
	}
	i := 3
	for i < len(l) && l[i] >= 'A' && l[i] <= 'Z' {
		i++
	}
	return i > 3 && i+1 < len(l) && l[i] == ':' && l[i+1] == ' '
}

// goroutineHeader: "goroutine 1 [running]:", "goroutine 18 gp=0x... m=nil [chan receive]:".
func goroutineHeader(l []byte) bool {
	if !hasPrefix(l, "goroutine ") {
		return false
	}
	i := len("goroutine ")
	j := i
	for j < len(l) && l[j] >= '0' && l[j] <= '9' {
		j++
	}
	return j > i && j < len(l) && l[j] == ' ' && l[len(l)-1] == ':'
}

// goFrame: a function line of a Go stack, `pkg/path.(*T).Method(0x1, ...)`:
// no space before its first parenthesis, and it ends with one.
func goFrame(l []byte) bool {
	if len(l) < 3 || l[len(l)-1] != ')' {
		return false
	}
	p := bytes.IndexByte(l, '(')
	return p > 0 && !bytes.ContainsAny(l[:p], " \t")
}

// goRegister: "rax    0x0", a register of a signal dump.
func goRegister(l []byte) bool {
	i := 0
	for i < len(l) && i < 6 && (l[i] >= 'a' && l[i] <= 'z' || l[i] >= '0' && l[i] <= '9') {
		i++
	}
	if i < 2 || i >= len(l) || l[i] != ' ' {
		return false
	}
	rest := bytes.TrimLeft(l[i:], " ")
	return hasPrefix(rest, "0x")
}

// rubyContinues: a Ruby backtrace (`\tfrom app.rb:3:in 'x'`) and a Rails
// error in its log: the exception's line (`ActionView::Template::Error
// (undefined method ...):`), its indented code excerpt, blank lines and
// unindented frames (`app/controllers/users_controller.rb:10:in 'show'`),
// each possibly after Rails' request tags (`[3f2a...] `). A Logger header
// (`E, [2026-...] ERROR -- :`) always starts an event; a crash's first line
// (`app.rb:10:in 'x': boom (NoMethodError)`) does too.
func rubyContinues(l []byte) bool {
	if indented(l) {
		return true
	}
	l = stripTags(l)
	if blank(l) || indented(l) {
		return true
	}
	if rubyLoggerHeader(l) {
		return false
	}
	if hasPrefix(l, "from ") {
		return true
	}
	if rubyFrame(l) {
		// A crash's own first line names its class last: "(NoMethodError)".
		return !(len(l) > 0 && l[len(l)-1] == ')' && bytes.Contains(l, []byte(": ")))
	}
	return railsError(l)
}

// stripTags drops Rails' tagged-logging prefixes: "[tag] " where the tag
// holds no space (a request id, a subdomain).
func stripTags(l []byte) []byte {
	for len(l) > 2 && l[0] == '[' {
		e := bytes.IndexByte(l, ']')
		if e < 0 || e+1 >= len(l) || l[e+1] != ' ' || bytes.IndexByte(l[:e], ' ') >= 0 {
			break
		}
		l = l[e+2:]
	}
	return l
}

// rubyLoggerHeader: "E, [2026-12-01T10:00:00.000000 #1234] ERROR -- : ...".
func rubyLoggerHeader(l []byte) bool {
	return len(l) > 4 && l[1] == ',' && l[2] == ' ' && l[3] == '[' && bytes.IndexByte([]byte("DIWEFAU"), l[0]) >= 0
}

// rubyFrame: "path/file.rb:10:in `m'", "actionpack (7.1.3) lib/x.rb:28:in 'call'",
// "app/views/users/show.html.erb:2": a path with ".rb" or ".erb" (or any
// file) followed by ":<digits>".
func rubyFrame(l []byte) bool {
	i := bytes.Index(l, []byte(".rb:"))
	n := len(".rb:")
	if j := bytes.Index(l, []byte(".erb:")); j >= 0 && (i < 0 || j < i) {
		i, n = j, len(".erb:")
	}
	if i <= 0 {
		return false
	}
	k := i + n
	return k < len(l) && l[k] >= '0' && l[k] <= '9'
}

// railsError: "ActiveRecord::RecordNotFound (Couldn't find User):", a
// capitalised class name (with ::) before " (" on a line ending in "):".
func railsError(l []byte) bool {
	if len(l) == 0 || l[0] < 'A' || l[0] > 'Z' || !bytes.HasSuffix(l, []byte("):")) {
		return false
	}
	p := bytes.Index(l, []byte(" ("))
	if p <= 0 {
		return false
	}
	for _, c := range l[:p] {
		if !(c == ':' || c == '_' || c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// dotnetContinues: a .NET exception as Exception.ToString() writes it
// (Serilog, NLog, the ASP.NET Core console logger): the exception's line
// (`System.InvalidOperationException: boom`), indented frames (`   at ...`),
// inner exceptions (` ---> System.ArgumentNullException: ...`), and
// `--- End of inner exception stack trace ---` / `--- End of stack trace
// from previous location ---`, indented or not.
func dotnetContinues(l []byte) bool {
	if indented(l) || hasPrefix(l, "--- End of ") {
		return true
	}
	return exceptionHeader(l)
}
