package app

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite README.md's configuration table")

// TestREADMEConfigTable keeps the README's configuration table equal to the
// key table; `make docs` (go test -run TestREADMEConfigTable -update) regenerates it.
func TestREADMEConfigTable(t *testing.T) {
	const path = "../../../README.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := replaceConfigTable(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != string(raw) {
		t.Fatal("README.md configuration table is out of date: run `make docs`")
	}
}

// Every key has a usage text, and flags and env names are unique.
func TestKeyTableConsistent(t *testing.T) {
	flags, envs := map[string]bool{}, map[string]bool{}
	for _, k := range keys {
		if k.usage == "" {
			t.Errorf("%s has no usage", k.name)
		}
		if k.flag != "" && flags[k.flag] {
			t.Errorf("flag --%s used twice", k.flag)
		}
		if envs[k.env()] {
			t.Errorf("env %s used twice", k.env())
		}
		flags[k.flag], envs[k.env()] = true, true
	}
}
