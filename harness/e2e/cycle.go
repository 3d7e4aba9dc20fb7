package e2e

import (
	auditsink "github.com/kraite/stream/sinks/audit"
	orderssink "github.com/kraite/stream/sinks/orders"
)

// setSyncCycle selects the sinks' previous sequential cycle (Config.SyncCycle:
// synchronous offset commit, outbox published inline, no linger), the
// baseline of the same run.
func setSyncCycle(a *auditsink.Config, o *orderssink.Config, on bool) {
	a.SyncCycle, o.SyncCycle = on, on
}
