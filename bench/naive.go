package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// runNaive is the baseline of issue 11: the SSE server anyone would write in
// an afternoon. One goroutine follows the file with a buffered reader and
// sleeps a few ms at EOF; each client has a buffered channel and a handler
// that writes what is queued and flushes once. No rotation, no resume, no
// limits. The bench runs it as a child process (bench -naive FILE -naive-addr
// ADDR), so its CPU is measured like the other servers'.
func runNaive(file, addr string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	var mu sync.Mutex
	clients := map[chan []byte]struct{}{}
	go func() {
		r := bufio.NewReaderSize(f, 64<<10)
		var partial []byte
		for {
			line, err := r.ReadBytes('\n')
			if err != nil { // EOF: keep the partial line, wait, read again
				partial = append(partial, line...)
				time.Sleep(5 * time.Millisecond)
				continue
			}
			if len(partial) > 0 {
				line = append(partial, line...)
				partial = nil
			}
			frame := append(append([]byte("data: "), bytes.TrimRight(line, "\n")...), '\n', '\n')
			mu.Lock()
			for c := range clients {
				select {
				case c <- frame:
				default: // a slow client misses lines
				}
			}
			mu.Unlock()
		}
	}()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c := make(chan []byte, 1024)
		mu.Lock()
		clients[c] = struct{}{}
		mu.Unlock()
		defer func() { mu.Lock(); delete(clients, c); mu.Unlock() }()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case b := <-c:
				w.Write(b)
			more:
				for {
					select {
					case b := <-c:
						w.Write(b)
					default:
						break more
					}
				}
				w.(http.Flusher).Flush()
			}
		}
	})
	return http.ListenAndServe(addr, nil)
}
