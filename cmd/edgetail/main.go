// Command edgetail follows local log files, the systemd journal and host
// metrics, and serves each source as a live, filtered Server-Sent-Events
// stream; `edgetail hub` serves a fleet of them. This package is the command
// line only: subcommands, flags and signals; the daemons are packages agent
// and hub.
package main

import "os"

func main() {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}
