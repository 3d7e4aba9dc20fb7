package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/topics"
)

func cmdOpen(ctx context.Context, a *app, args []string) error {
	c, err := a.loadCommon()
	if err != nil {
		return err
	}
	fs := a.newFlags("open", "open --account ID --symbol SYM --side BUY|SELL --size N [--reduce] [--wait 10s]\n\n"+
		"Publishes an open intent to the gate (open-intents topic, key = account). With\n"+
		"--wait it also waits for the gate's decision and prints it.")
	in := topics.OpenIntent{}
	fs.StringVar(&in.Account, "account", "", "account id (required)")
	fs.StringVar(&in.Exchange, "exchange", topics.ExchangeBinance, "exchange")
	fs.StringVar(&in.Symbol, "symbol", "", "symbol, e.g. BTCUSDT (required)")
	fs.StringVar(&in.Side, "side", "", "BUY or SELL (required)")
	fs.StringVar(&in.Size, "size", "", "size as a decimal (required)")
	fs.StringVar(&in.ClientID, "client-id", "", "client id (default: generated)")
	fs.BoolVar(&in.Reduce, "reduce", false, "a reduction or close (never refused)")
	wait := fs.Duration("wait", 0, "wait this long for the gate's decision (0 = do not wait)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	in.Side = strings.ToUpper(in.Side)
	if in.Account == "" || in.Symbol == "" || in.Side == "" || in.Size == "" {
		fs.Usage()
		return errors.New("--account, --symbol, --side and --size are required")
	}
	now := time.Now()
	if in.ClientID == "" {
		in.ClientID = fmt.Sprintf("cli-%d", now.UnixNano())
	}
	in.CreatedMs = now.UnixMilli()
	var since map[string]map[int32]kgo.Offset
	if *wait > 0 {
		if since, err = intentEndOffsets(ctx, c, topics.Positions.Name(c.TopicPrefix), topics.OpenIntentsRejected.Name(c.TopicPrefix)); err != nil {
			return err
		}
	}
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encoding intent: %w", err)
	}
	if _, err := produceOne(ctx, c, &kgo.Record{Topic: topics.OpenIntents.Name(c.TopicPrefix), Key: []byte(in.Account), Value: b}); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "intent %s published\n", in.ClientID)
	if *wait == 0 {
		return nil
	}
	return waitDecision(ctx, a, c, since, in.ClientID, *wait)
}

func intentEndOffsets(ctx context.Context, c common, names ...string) (map[string]map[int32]kgo.Offset, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...))
	if err != nil {
		return nil, fmt.Errorf("creating admin client: %w", err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	out := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]kgo.Offset{}
		}
		out[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	return out, nil
}

func waitDecision(ctx context.Context, a *app, c common, since map[string]map[int32]kgo.Offset, clientID string, wait time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...), kgo.ConsumePartitions(since))
	if err != nil {
		return fmt.Errorf("creating consumer: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for ctx.Err() == nil {
		var done bool
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if done {
				return
			}
			switch r.Topic {
			case topics.Positions.Name(c.TopicPrefix):
				var pe topics.PositionEvent
				if json.Unmarshal(r.Value, &pe) == nil && pe.Intent != nil && pe.Intent.ClientID == clientID {
					fmt.Fprintf(a.stdout, "allowed (band %s, score %.2f)\n", pe.Band, pe.Score)
					done = true
				}
			default:
				var ri topics.RejectedIntent
				if json.Unmarshal(r.Value, &ri) == nil && ri.Intent.ClientID == clientID {
					fmt.Fprintf(a.stdout, "refused (band %s, score %.2f): %s\n", ri.Band, ri.Score, ri.Reason)
					done = true
				}
			}
		})
		if done {
			return nil
		}
	}
	return fmt.Errorf("no decision for %s within %s (is the gate running?)", clientID, wait)
}
