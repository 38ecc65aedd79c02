package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// sseClient opens one stream and records its events until ctx ends or the
// server closes it. onStatus gets the HTTP status (0 when the connect
// failed) as soon as the headers are in. The parser is hand-written so the
// load tool costs as little CPU as it can on the machine it shares.
func sseClient(ctx context.Context, addr, path, lastID string, st *clientStats, bufSize int, onStatus func(int)) error {
	conn, done, err := dial(ctx, addr, onStatus)
	if err != nil {
		return err
	}
	defer done()

	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: text/event-stream\r\n"
	if lastID != "" {
		req += "Last-Event-ID: " + lastID + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		onStatus(0)
		return err
	}
	br := bufio.NewReaderSize(conn, min(bufSize, 4096))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		onStatus(0)
		return err
	}
	onStatus(resp.StatusCode)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		refusals.note(resp.StatusCode, string(msg))
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return readSSE(bufio.NewReaderSize(resp.Body, bufSize), st)
}

var (
	pData  = []byte("data: ")
	pID    = []byte("id: ")
	pEvent = []byte("event: ")
)

func readSSE(r *bufio.Reader, st *clientStats) error {
	var event []byte
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				return fmt.Errorf("line longer than the read buffer")
			}
			return err
		}
		line = line[:len(line)-1]
		switch {
		case len(line) == 0:
			event = event[:0]
		case bytes.HasPrefix(line, pData):
			data := line[len(pData):]
			switch {
			case len(event) == 0:
				st.line(data, time.Now().UnixNano())
			case string(event) == "gap":
				st.gap(data)
			}
		case bytes.HasPrefix(line, pID):
			st.lastID = append(st.lastID[:0], line[len(pID):]...)
		case bytes.HasPrefix(line, pEvent):
			event = append(event[:0], line[len(pEvent):]...)
		}
	}
}

// refusals keeps the first answer of each refused status, for the log.
var refusals = refusalLog{m: map[int]string{}}

type refusalLog struct {
	mu sync.Mutex
	m  map[int]string
}

func (r *refusalLog) note(code int, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[code]; !ok {
		r.m[code] = msg
		fmt.Fprintf(os.Stderr, "bench: a stream was refused with %d: %q\n", code, msg)
	}
}

// dial connects to addr and closes the connection when ctx ends, so a
// blocked read returns; done releases both. A failed connect reports
// status 0.
func dial(ctx context.Context, addr string, onStatus func(int)) (net.Conn, func(), error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		onStatus(0)
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	return conn, func() { stop(); _ = conn.Close() }, nil
}
