// Package regimestate is the market regime as every consumer reads it: the
// four bands and how a score maps onto them, the gate statuses and the
// gate decision (GateStatus), and State, the value of the regime group
// table. The regime processor (processors/regime) writes it; the gate, the
// regime-history sink, the status page and `kraite regime status` read it.
// Keeping it out of the processor lets them read the regime without
// depending on the processor that computes it.
package regimestate
