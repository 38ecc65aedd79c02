package agent

import (
	"fmt"

	"edgetail/journal"
)

// validateJournal checks a journal: block key by key, with the lines of
// each problem, before anything can reach journalctl's command line.
func (c *Config) validateJournal(k string, j *JournalConfig) []Problem {
	var probs []Problem
	add := func(key string, err error) {
		probs = append(probs, c.doc.Problem(key, "%v", err))
	}
	for i, u := range j.Units {
		if err := journal.CheckUnit(u); err != nil {
			add(fmt.Sprintf("%s.units[%d]", k, i), err)
		}
	}
	for i, id := range j.Identifiers {
		if err := journal.CheckIdentifier(id); err != nil {
			add(fmt.Sprintf("%s.identifiers[%d]", k, i), err)
		}
	}
	for i, m := range j.Matches {
		if err := journal.CheckMatch(m); err != nil {
			add(fmt.Sprintf("%s.matches[%d]", k, i), err)
		}
	}
	if j.Priority != "" {
		if _, err := journal.ParsePriority(j.Priority); err != nil {
			add(k+".priority", err)
		}
	}
	if j.Directory != "" {
		if err := journal.CheckDirectory(j.Directory); err != nil {
			add(k+".directory", err)
		}
	}
	if j.Namespace != "" {
		if err := journal.CheckNamespace(j.Namespace); err != nil {
			add(k+".namespace", err)
		}
		if j.Directory != "" {
			add(k+".namespace", fmt.Errorf("directory and namespace exclude each other"))
		}
	}
	return probs
}
