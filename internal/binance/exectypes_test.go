package binance

import "testing"

func TestExecutionTypesAreOneListOfDistinctNames(t *testing.T) {
	seen := map[string]bool{}
	for _, x := range ExecutionTypes() {
		if seen[x] {
			t.Errorf("%s listed twice", x)
		}
		seen[x] = true
		if c, ok := CanonicalExecutionType(x); !ok || c != x {
			t.Errorf("%s is not its own canonical spelling", x)
		}
	}
	for _, status := range []string{"NEW", "CANCELED", "EXPIRED", "TRIGGERING", "TRIGGERED", "REJECTED"} {
		if x := AlgoExecutionType(AlgoUpdate{Status: Text(status)}); !seen[x] {
			t.Errorf("algo status %s maps to %s, which is not listed", status, x)
		}
	}
	if !KnownExecutionType(" trade ") || KnownExecutionType("ALGO_FINISHED") || KnownExecutionType("") {
		t.Error("KnownExecutionType: trimmed any-case match only")
	}
	l := OrderExecutionTypes()
	l[0] = "X"
	if OrderExecutionTypes()[0] != ExecNew {
		t.Error("the list is shared with its callers")
	}
}
