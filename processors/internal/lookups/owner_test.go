package lookups

import (
	"strings"
	"testing"

	"github.com/lovoo/goka"

	"github.com/kraite/stream/topics"
)

// Guarded hands every shared field of the Owner to the View's
// configuration, and NewRunner names the processor when its graph is
// refused.
func TestOwnerGuardedAndNewRunner(t *testing.T) {
	quarantined := func(string, *topics.QuarantineRecord) {}
	own := Owner{Name: "dispatch", Group: "kraite.dispatch", Quarantine: "kraite.quarantine",
		ViewOptions: []goka.ViewOption{goka.WithViewHasher(nil)}, Quarantined: quarantined}
	gc := own.Guarded("kraite.allowlist")
	if gc.Table != "kraite.allowlist" || gc.Group != own.Group || gc.Quarantine != own.Quarantine ||
		len(gc.ViewOptions) != 1 || gc.Quarantined == nil || gc.Kafka != nil || gc.Check != nil || gc.Parse != nil {
		t.Fatalf("Guarded = %+v", gc)
	}
	_, err := own.NewRunner(goka.DefineGroup("kraite.dispatch"), nil, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "validating dispatch graph: ") {
		t.Fatalf("NewRunner of a graph without input: %v", err)
	}
}
