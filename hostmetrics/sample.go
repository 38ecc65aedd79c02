package hostmetrics

import "time"

// Sample is one snapshot of the host, encoded with encoding/json. The schema
// is documented in SCHEMA.md next to this file; in short:
//
//	{
//	  "time":   RFC3339Nano string, UTC,
//	  "cpu":    {"total": {...}, "cores": [{"cpu": "cpu0", ...}]},
//	  "mem":    {"total","available","used","free","buffers","cached","used_percent"} bytes,
//	  "swap":   {"total","used","free"} bytes,
//	  "load":   {"load1","load5","load15"},
//	  "disk":   [{"device","read_bytes_per_s","write_bytes_per_s","reads_per_s","writes_per_s","util_percent"}],
//	  "fs":     [{"mount","device","fstype","total","used","free","avail","used_percent"}] bytes,
//	  "net":    [{"iface","rx_bytes_per_s","tx_bytes_per_s","rx_packets_per_s","tx_packets_per_s",
//	              "rx_errors","tx_errors","rx_drops","tx_drops"}],
//	  "uptime": seconds,
//	  "procs":  {"total","running","blocked"},
//	  "errors": ["read /proc/meminfo: ...", ...]   (omitted when empty)
//	}
//
// A part whose /proc file could not be read or parsed is null and explained
// in errors; the other parts are still filled. Percentages and rates are
// rounded to two decimals. Rates are per second over the real time elapsed
// since the previous sample; on the first sample, and for a device seen for
// the first time or whose counters went backwards, they are 0. CPU percentages
// of the first sample are averages since boot.
type Sample struct {
	Time   time.Time   `json:"time"`
	CPU    *CPUStats   `json:"cpu"`
	Mem    *MemStats   `json:"mem"`
	Swap   *SwapStats  `json:"swap"`
	Load   *LoadStats  `json:"load"`
	Disk   []DiskStats `json:"disk"`
	FS     []FSStats   `json:"fs"`
	Net    []NetStats  `json:"net"`
	Uptime *float64    `json:"uptime"`
	Procs  *ProcStats  `json:"procs"`
	Errors []string    `json:"errors,omitempty"`
}

// CPUStats is the CPU time split of the whole machine and of each core.
type CPUStats struct {
	Total CPUTimes   `json:"total"`
	Cores []CPUTimes `json:"cores"`
}

// CPUTimes is the share of CPU time, in percent, spent in each state over the
// interval. Percent is the busy share (100 - idle - iowait). User includes
// guest time (the kernel counts it there), Nice includes guest_nice. The
// state fields sum to 100 within rounding.
type CPUTimes struct {
	CPU     string  `json:"cpu,omitempty"`
	Percent float64 `json:"percent"`
	User    float64 `json:"user"`
	Nice    float64 `json:"nice"`
	System  float64 `json:"system"`
	IRQ     float64 `json:"irq"`
	SoftIRQ float64 `json:"softirq"`
	IOWait  float64 `json:"iowait"`
	Steal   float64 `json:"steal"`
	Idle    float64 `json:"idle"`
}

// MemStats is memory in bytes from /proc/meminfo. Used is Total - Available,
// as free(1) computes it; Cached is the Cached line (page cache, without
// SReclaimable).
type MemStats struct {
	Total       uint64  `json:"total"`
	Available   uint64  `json:"available"`
	Used        uint64  `json:"used"`
	Free        uint64  `json:"free"`
	Buffers     uint64  `json:"buffers"`
	Cached      uint64  `json:"cached"`
	UsedPercent float64 `json:"used_percent"`
}

// SwapStats is swap in bytes from /proc/meminfo.
type SwapStats struct {
	Total uint64 `json:"total"`
	Used  uint64 `json:"used"`
	Free  uint64 `json:"free"`
}

// LoadStats is the 1, 5 and 15 minute load averages from /proc/loadavg.
type LoadStats struct {
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
}

// ProcStats counts tasks. Total is the number of kernel scheduling entities
// (threads included) from /proc/loadavg; Running and Blocked come from
// procs_running and procs_blocked in /proc/stat and also count threads.
type ProcStats struct {
	Total   uint64 `json:"total"`
	Running uint64 `json:"running"`
	Blocked uint64 `json:"blocked"`
}

// DiskStats is the I/O of one whole block device from /proc/diskstats.
// UtilPercent is the share of the interval the device had I/O in flight.
type DiskStats struct {
	Device         string  `json:"device"`
	ReadBytesPerS  float64 `json:"read_bytes_per_s"`
	WriteBytesPerS float64 `json:"write_bytes_per_s"`
	ReadsPerS      float64 `json:"reads_per_s"`
	WritesPerS     float64 `json:"writes_per_s"`
	UtilPercent    float64 `json:"util_percent"`
}

// FSStats is the usage of one mounted filesystem, in bytes. Used is
// Total - Free; UsedPercent is Used / (Used + Avail), like df, so blocks
// reserved for root count as unavailable.
type FSStats struct {
	Mount       string  `json:"mount"`
	Device      string  `json:"device"`
	FSType      string  `json:"fstype"`
	Total       uint64  `json:"total"`
	Used        uint64  `json:"used"`
	Free        uint64  `json:"free"`
	Avail       uint64  `json:"avail"`
	UsedPercent float64 `json:"used_percent"`
}

// NetStats is the traffic of one network interface from /proc/net/dev.
// Bytes and packets are per second; errors and drops are totals since the
// interface appeared, because they are rare events an operator wants to see
// accumulate rather than a rate that is almost always 0.
type NetStats struct {
	Iface         string  `json:"iface"`
	RxBytesPerS   float64 `json:"rx_bytes_per_s"`
	TxBytesPerS   float64 `json:"tx_bytes_per_s"`
	RxPacketsPerS float64 `json:"rx_packets_per_s"`
	TxPacketsPerS float64 `json:"tx_packets_per_s"`
	RxErrors      uint64  `json:"rx_errors"`
	TxErrors      uint64  `json:"tx_errors"`
	RxDrops       uint64  `json:"rx_drops"`
	TxDrops       uint64  `json:"tx_drops"`
}
