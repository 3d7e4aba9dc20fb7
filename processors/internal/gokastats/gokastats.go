// Package gokastats exposes a goka processor's own statistics as
// Prometheus metrics, read at scrape time (goka's Processor.Stats), so
// nothing polls between scrapes.
//
// Per partition the processor owns, labelled group (the goka group),
// partition (the processor partition) and topic or table:
//
//	kraite_goka_partitions{group}                              partitions owned now
//	kraite_goka_input_messages_total{group,topic,partition}    records consumed
//	kraite_goka_input_bytes_total{group,topic,partition}       value bytes consumed
//	kraite_goka_input_last_offset{group,topic,partition}       offset of the last record consumed
//	kraite_goka_input_offset_lag{group,topic,partition}        high-water mark minus last offset (goka refreshes it each minute)
//	kraite_goka_input_delay_seconds{group,topic,partition}     age of the last record when consumed
//	kraite_goka_output_messages_total{group,topic,partition}   records emitted
//	kraite_goka_output_bytes_total{group,topic,partition}      value bytes emitted
//	kraite_goka_table_status{group,table,partition}            goka.PartitionStatus (5 = running)
//	kraite_goka_table_stalled{group,table,partition}           1 while recovery stalls
//	kraite_goka_table_recovery_offset{group,table,partition}   last offset recovered
//	kraite_goka_table_recovery_hwm{group,table,partition}      high-water mark recovery runs to
//	kraite_goka_table_recovery_lag{group,table,partition}      records left to recover (0 once running)
//	kraite_goka_table_writes_total{group,table,partition}      table updates written
//
// Tables are the processor's group table and its joined tables. goka
// counts per partition processor, so the counters restart from zero when a
// partition moves; rate() absorbs that as a counter reset.
//
// Views a lookups.Runner owns are not read: a goka View drops its
// partitions unguarded when it closes (processors/internal/lookups), so
// reading its stats at scrape time could race with a shutdown.
package gokastats

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
)

// scrapeTimeout bounds how long one scrape waits for goka's stats.
const scrapeTimeout = 5 * time.Second

var (
	ioLabels    = []string{"topic", "partition"}
	tableLabels = []string{"table", "partition"}
)

// Collector reads one processor's stats on every Collect.
type Collector struct {
	stats func(ctx context.Context) *goka.ProcessorStats
	table string // the group table's topic

	partitions *prometheus.Desc

	inMsgs, inBytes, inOffset, inLag, inDelay *prometheus.Desc
	outMsgs, outBytes                         *prometheus.Desc

	tStatus, tStalled, tOffset, tHwm, tLag, tWrites *prometheus.Desc
}

// New returns a collector of p's stats; its series carry group=<p's group>.
func New(p *goka.Processor) *Collector {
	return newCollector(string(p.Graph().Group()), p.StatsWithContext)
}

// Register registers a collector of p's stats on reg.
func Register(reg prometheus.Registerer, p *goka.Processor) error {
	c := New(p)
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("registering goka stats of %s: %w", p.Graph().Group(), err)
	}
	return nil
}

func newCollector(group string, stats func(ctx context.Context) *goka.ProcessorStats) *Collector {
	constant := prometheus.Labels{"group": group}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("kraite_goka_"+name, help, labels, constant)
	}
	return &Collector{
		stats:      stats,
		table:      string(goka.GroupTable(goka.Group(group))),
		partitions: d("partitions", "Partitions the goka processor owns now.", nil),

		inMsgs:   d("input_messages_total", "Records the goka processor consumed, per input topic and partition.", ioLabels),
		inBytes:  d("input_bytes_total", "Value bytes the goka processor consumed, per input topic and partition.", ioLabels),
		inOffset: d("input_last_offset", "Offset of the last record consumed, per input topic and partition.", ioLabels),
		inLag:    d("input_offset_lag", "High-water mark minus the last offset consumed (goka refreshes it every minute).", ioLabels),
		inDelay:  d("input_delay_seconds", "Age of the last record consumed when it was consumed.", ioLabels),
		outMsgs:  d("output_messages_total", "Records the goka processor emitted, per output topic and processor partition.", ioLabels),
		outBytes: d("output_bytes_total", "Value bytes the goka processor emitted, per output topic and processor partition.", ioLabels),

		tStatus:  d("table_status", "goka partition status of a table: 0 stopped, 1 initializing, 2 connecting, 3 recovering, 4 preparing, 5 running.", tableLabels),
		tStalled: d("table_stalled", "1 while a table partition's recovery is stalled.", tableLabels),
		tOffset:  d("table_recovery_offset", "Last offset a table partition recovered.", tableLabels),
		tHwm:     d("table_recovery_hwm", "High-water mark a table partition recovers to.", tableLabels),
		tLag:     d("table_recovery_lag", "Records a table partition still has to recover (0 once running).", tableLabels),
		tWrites:  d("table_writes_total", "Updates the goka processor wrote to a table partition.", tableLabels),
	}
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.partitions, c.inMsgs, c.inBytes, c.inOffset, c.inLag, c.inDelay,
		c.outMsgs, c.outBytes, c.tStatus, c.tStalled, c.tOffset, c.tHwm, c.tLag, c.tWrites} {
		ch <- d
	}
}

// Collect reads the processor's stats now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	st := c.stats(ctx)
	if st == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.partitions, prometheus.GaugeValue, float64(len(st.Group)))
	for part, pp := range st.Group {
		if pp == nil {
			continue
		}
		p := strconv.Itoa(int(part))
		for topic, in := range pp.Input {
			if in == nil {
				continue
			}
			ch <- prometheus.MustNewConstMetric(c.inMsgs, prometheus.CounterValue, float64(in.Count), topic, p)
			ch <- prometheus.MustNewConstMetric(c.inBytes, prometheus.CounterValue, float64(in.Bytes), topic, p)
			ch <- prometheus.MustNewConstMetric(c.inOffset, prometheus.GaugeValue, float64(in.LastOffset), topic, p)
			ch <- prometheus.MustNewConstMetric(c.inLag, prometheus.GaugeValue, float64(in.OffsetLag), topic, p)
			ch <- prometheus.MustNewConstMetric(c.inDelay, prometheus.GaugeValue, in.Delay.Seconds(), topic, p)
		}
		for topic, out := range pp.Output {
			if out == nil {
				continue
			}
			ch <- prometheus.MustNewConstMetric(c.outMsgs, prometheus.CounterValue, float64(out.Count), topic, p)
			ch <- prometheus.MustNewConstMetric(c.outBytes, prometheus.CounterValue, float64(out.Bytes), topic, p)
		}
		if pp.TableStats != nil {
			c.tableMetrics(ch, c.table, p, pp.TableStats)
		}
		for table, ts := range pp.Joined {
			if ts != nil {
				c.tableMetrics(ch, table, p, ts)
			}
		}
	}
}

func (c *Collector) tableMetrics(ch chan<- prometheus.Metric, table, p string, ts *goka.TableStats) {
	stalled := 0.0
	if ts.Stalled {
		stalled = 1
	}
	ch <- prometheus.MustNewConstMetric(c.tStatus, prometheus.GaugeValue, float64(ts.Status), table, p)
	ch <- prometheus.MustNewConstMetric(c.tStalled, prometheus.GaugeValue, stalled, table, p)
	if r := ts.Recovery; r != nil {
		lag := 0.0
		if ts.Status != goka.PartitionRunning {
			// Offset is the last offset recovered, Hwm the next one to be
			// written: Hwm-1 is the last record to recover.
			lag = float64(max(r.Hwm-1-r.Offset, 0))
		}
		ch <- prometheus.MustNewConstMetric(c.tOffset, prometheus.GaugeValue, float64(r.Offset), table, p)
		ch <- prometheus.MustNewConstMetric(c.tHwm, prometheus.GaugeValue, float64(r.Hwm), table, p)
		ch <- prometheus.MustNewConstMetric(c.tLag, prometheus.GaugeValue, lag, table, p)
	}
	if ts.Writes != nil {
		ch <- prometheus.MustNewConstMetric(c.tWrites, prometheus.CounterValue, float64(ts.Writes.Count), table, p)
	}
}
