package classify

// SetStrategy sets how Compile groups rules and whether it combines the
// small fields, for the benchmarks that compare them; it returns a func
// that restores the default.
func SetStrategy(group int, comb bool) func() {
	g, c := grouping, combine
	grouping, combine = group, comb
	return func() { grouping, combine = g, c }
}

const (
	GroupNone    = groupNone
	GroupDriver  = groupDriver
	GroupPattern = groupPattern
)
