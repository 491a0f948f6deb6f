package main

import (
	"os"
	"strings"
	"testing"
)

// The README's configuration table and `cdp help config` come from the
// same list: every setting has its row, with its flag, variable and
// default, and the table names no setting that does not exist.
func TestREADMEConfigurationTableMatchesTheSettings(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(data), "| flag | environment | default | meaning |")
	if !ok {
		t.Fatal("no configuration table in the README")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	rows := map[string][]string{}
	for _, line := range strings.Split(table, "\n")[2:] {
		cells := strings.Split(line, "|")
		if len(cells) < 5 {
			continue
		}
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		rows[strings.TrimPrefix(cells[1], "--")] = cells[1:]
	}
	for _, s := range settings {
		row, ok := rows[s.flag]
		if !ok {
			t.Errorf("setting --%s (%s) has no row in the README's table", s.flag, s.env)
			continue
		}
		delete(rows, s.flag)
		if row[1] != s.env {
			t.Errorf("--%s: the README says %s, the setting %s", s.flag, row[1], s.env)
		}
		if s.def != "" && row[2] != s.def {
			t.Errorf("--%s: the README's default is %q, the setting's %q", s.flag, row[2], s.def)
		}
	}
	for flag := range rows {
		t.Errorf("the README's table names --%s, which is no setting", flag)
	}
}
