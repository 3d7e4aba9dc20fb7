package reconcile

import (
	"context"
	"errors"
	"testing"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/topics"
)

// The keep-alive job extends a live listenKey, forgives a key the exchange
// no longer knows (the stream re-creates it) and fails for an account it
// has no credentials of.
func TestKeepAliveHandlerForgivesAGoneKeyAndFailsAnUnknownAccount(t *testing.T) {
	_, acct, cr, rest := serveSim(t)
	ctx := context.Background()
	creds := func(id string) (binanceapi.Credentials, error) {
		if id != acct.ID {
			return binanceapi.Credentials{}, errors.New("account is not configured")
		}
		return cr, nil
	}
	h := KeepAliveHandler(rest, creds)
	if _, err := rest.CreateListenKey(ctx, cr); err != nil {
		t.Fatal(err)
	}
	if err := h(ctx, topics.Job{Type: JobKeepAlive, Account: acct.ID}); err != nil {
		t.Fatalf("live key: %v", err)
	}
	if err := rest.CloseListenKey(ctx, cr); err != nil {
		t.Fatal(err)
	}
	if err := rest.KeepAliveListenKey(ctx, cr); !binanceapi.IsListenKeyGone(err) {
		t.Fatalf("the exchange's answer for a closed key: %v, want listenKey gone", err)
	}
	if err := h(ctx, topics.Job{Type: JobKeepAlive, Account: acct.ID}); err != nil {
		t.Fatalf("gone key: %v, want nil", err)
	}
	if err := h(ctx, topics.Job{Type: JobKeepAlive, Account: "acct-unknown"}); err == nil {
		t.Fatal("unknown account: no error")
	}
}
