package hostmetrics

import (
	"io"
	"os"
	"strings"
)

// sectorBytes is the unit of /proc/diskstats sector counts: always 512
// bytes, whatever the device's real sector size.
const sectorBytes = 512

// minDiskFields is major, minor, name and the 11 counters every kernel since
// 2.6 prints; newer kernels append discard and flush counters we ignore.
const minDiskFields = 14

// diskCounters is one /proc/diskstats line, reduced to what we report.
type diskCounters struct {
	name         string
	reads        uint64
	readSectors  uint64
	writes       uint64
	writeSectors uint64
	ioTicksMS    uint64
}

// parseDiskstats parses /proc/diskstats. A malformed line is skipped and
// reported; the other devices are still returned.
func parseDiskstats(r io.Reader) ([]diskCounters, error) {
	var out []diskCounters
	err := eachRecord(r, minDiskFields, func(line int, fields []string, bad *lineErrors) {
		var v [minDiskFields]uint64
		for i := 3; i < minDiskFields; i++ {
			n, err := parseUint(fields[i])
			if err != nil {
				bad.addf(line, "%s: field %d: %v", truncate(fields[2]), i+1, err)
				return
			}
			v[i] = n
		}
		out = append(out, diskCounters{
			name:         fields[2],
			reads:        v[3],
			readSectors:  v[5],
			writes:       v[7],
			writeSectors: v[9],
			ioTicksMS:    v[12],
		})
	})
	return out, err
}

// skippedDiskPrefixes are devices whose I/O is memory traffic, not disk
// traffic: loop devices (backed by files whose real disk is reported
// anyway), RAM disks and zram.
var skippedDiskPrefixes = []string{"loop", "ram", "zram"}

// wholeDisks lists the names under sysRoot/block, which holds whole devices
// only (partitions live below their disk). It returns nil when the directory
// cannot be read, e.g. in a container without /sys or in a test fixture; the
// caller then keeps partitions too rather than guessing from names.
func wholeDisks(sysRoot string) map[string]bool {
	entries, err := os.ReadDir(sysRoot + "/block")
	if err != nil {
		return nil
	}
	m := make(map[string]bool, len(entries))
	for _, e := range entries {
		m[e.Name()] = true
	}
	return m
}

// keepDisk decides whether a device is reported: not loop/ram/zram, a whole
// disk when that is known, and used at least once (idle nbd or floppy
// devices would only add rows of zeros).
func keepDisk(d diskCounters, whole map[string]bool) bool {
	for _, p := range skippedDiskPrefixes {
		if strings.HasPrefix(d.name, p) {
			return false
		}
	}
	if whole != nil && !whole[d.name] {
		return false
	}
	return d.reads != 0 || d.writes != 0
}

// buildDisk computes per-device rates against the previous reading. A
// device seen for the first time reports 0; one that vanished is simply not
// in the next state.
func buildDisk(cur []diskCounters, whole map[string]bool, prev *rateState[diskCounters], seconds float64) ([]DiskStats, map[string]diskCounters) {
	out := make([]DiskStats, 0, len(cur))
	next := make(map[string]diskCounters, len(cur))
	for _, d := range cur {
		if !keepDisk(d, whole) {
			continue
		}
		next[d.name] = d
		ds := DiskStats{Device: d.name}
		if p, ok := prev.prev[d.name]; ok && seconds > 0 {
			ds.ReadBytesPerS = round2(rawRate(p.readSectors, d.readSectors, seconds) * sectorBytes)
			ds.WriteBytesPerS = round2(rawRate(p.writeSectors, d.writeSectors, seconds) * sectorBytes)
			ds.ReadsPerS = rate(p.reads, d.reads, seconds)
			ds.WritesPerS = rate(p.writes, d.writes, seconds)
			if d.ioTicksMS >= p.ioTicksMS {
				// io_ticks can run slightly ahead of wall time at the sample
				// edges; clamp so the share never exceeds 100.
				util := float64(d.ioTicksMS-p.ioTicksMS) / (seconds * 1000) * 100
				ds.UtilPercent = round2(min(util, 100))
			}
		}
		out = append(out, ds)
	}
	return out, next
}
