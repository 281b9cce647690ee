package expand

import "testing"

func TestExpand(t *testing.T) {
	vars := Maps(map[string]string{"A": "alpha", "B": "$(A)", "EMPTY": ""}, map[string]string{"A": "shadowed", "C": "gamma"})
	cases := map[string]string{
		"":                    "",
		"plain":               "plain",
		"$(A)":                "alpha",
		"x$(A)y":              "xalphay",
		"$(A)$(C)":            "alphagamma",
		"$(B)":                "$(A)", // values are not expanded recursively
		"$(MISSING)":          "$(MISSING)",
		"$$(A)":               "$(A)",
		"$$$(A)":              "$alpha",
		"$$":                  "$",
		"$":                   "$",
		"a$":                  "a$",
		"$x":                  "$x",
		"$(A":                 "$(A",
		"$(":                  "$(",
		"$()":                 "$()",
		"$(EMPTY)|":           "|",
		"--port=$(C) $(A)":    "--port=gamma alpha",
		"$(A)$$(A)$(MISSING)": "alpha$(A)$(MISSING)",
	}
	for in, want := range cases {
		if got := Expand(in, vars); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAll(t *testing.T) {
	if All(nil, Maps()) != nil {
		t.Fatal("nil in, nil out")
	}
	got := All([]string{"$(X)", "y"}, Maps(map[string]string{"X": "1"}))
	if len(got) != 2 || got[0] != "1" || got[1] != "y" {
		t.Fatalf("got %v", got)
	}
}
