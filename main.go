// Command edgetail follows local log files and samples host metrics, and
// serves each source as a live, filtered Server-Sent-Events stream.
package main

import (
	"os"

	"edgetail/agent"
)

func main() {
	os.Exit(agent.Main(os.Args[1:], os.Stdout, os.Stderr))
}
