package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in a policy, at the line and column (both 1-based) of
// the YAML node that holds it. Msg names the field and says what was expected.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// ErrorList is every problem found in one policy, sorted by position. Parse
// and Load return it (as an error) when the list is not empty.
type ErrorList []Error

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find the individual Errors.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// maxErrors bounds the report: past it, one more entry says the rest were cut.
const maxErrors = 500

// sorted returns the list ordered by position, without exact duplicates
// (an anchor decoded through several aliases reports its problem once).
func (l ErrorList) sorted() ErrorList {
	s := slices.Clone(l)
	slices.SortStableFunc(s, func(a, b Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col), strings.Compare(a.Msg, b.Msg))
	})
	s = slices.Compact(s)
	if len(s) > maxErrors {
		last := s[maxErrors-1]
		s = append(s[:maxErrors-1:maxErrors-1], Error{File: last.File, Line: last.Line, Col: last.Col,
			Msg: fmt.Sprintf("too many errors: %d more not shown", len(s)-maxErrors+1)})
	}
	return s
}

// Pos is where a list element (an interface, a route, a rule...) was written,
// kept in the Spec so later stages can point users back at the policy.
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }
