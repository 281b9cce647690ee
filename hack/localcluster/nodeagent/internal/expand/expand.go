// Package expand implements the kubelet's $(VAR) expansion for env values,
// command, args and subPathExpr, so pod specs written for a real kubelet
// behave the same here.
//
// Rules (same as k8s.io/kubernetes third_party/forked/golang/expansion):
// $(NAME) becomes the value of NAME when it is defined and is left as is
// otherwise; $$ is an escaped $; a lone $ or an unclosed $( stays literal.
package expand

import "strings"

// Lookup returns the value of a variable and whether it is defined.
type Lookup func(name string) (string, bool)

// Maps returns a Lookup that searches the maps in order.
func Maps(maps ...map[string]string) Lookup {
	return func(name string) (string, bool) {
		for _, m := range maps {
			if v, ok := m[name]; ok {
				return v, true
			}
		}
		return "", false
	}
}

// Expand replaces $(VAR) references in s.
func Expand(s string, lookup Lookup) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; next {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
			b.WriteByte(next)
			i++
		}
	}
	return b.String()
}

// All expands every string of ss.
func All(ss []string, lookup Lookup) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Expand(s, lookup)
	}
	return out
}
