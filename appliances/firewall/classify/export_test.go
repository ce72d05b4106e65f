package classify

// SetStrategy has Compile build bit vectors, not trees, and sets how it groups rules and whether it combines the
// small fields, for the benchmarks that compare them; it returns a func
// that restores the default.
func SetStrategy(group int, comb bool) func() {
	g, c, t := grouping, combine, useTree
	grouping, combine, useTree = group, comb, false
	return func() { grouping, combine, useTree = g, c, t }
}

const (
	GroupNone    = groupNone
	GroupDriver  = groupDriver
	GroupPattern = groupPattern
)

// SetTree sets whether Compile builds decision trees and their bounds:
// the bytes and the work a rule (see treeRuleBytes), and the bytes in
// all; it returns a func that restores the defaults.
func SetTree(on bool, ruleBytes, ruleWork, budget int) func() {
	t, rb, rw, b := useTree, treeRuleBytes, treeRuleWork, treeBudget
	useTree, treeRuleBytes, treeRuleWork, treeBudget = on, ruleBytes, ruleWork, budget
	return func() { useTree, treeRuleBytes, treeRuleWork, treeBudget = t, rb, rw, b }
}

// TreeStats returns the inner nodes, of which cut nodes, the depth and
// the leaf words of the family's tree (v6 for IPv6), or false when it has
// none.
func (c *Classifier) TreeStats(v6 bool) (nodes, cuts, depth, words int, ok bool) {
	f := 0
	if v6 {
		f = 1
	}
	t := c.tree[f]
	if t == nil {
		return 0, 0, 0, 0, false
	}
	return t.nodeCount, t.cutCount, t.depth, len(t.ents), true
}

// SetCuts sets from how many rules a node may be a cut node, the share of
// them a part may hold at most, and the copies of a rule it may make; it
// returns a func that restores the defaults.
func SetCuts(min, share, copies int) func() {
	m, s, c := cutMin, cutShare, cutCopies
	cutMin, cutShare, cutCopies = min, share, copies
	return func() { cutMin, cutShare, cutCopies = m, s, c }
}
