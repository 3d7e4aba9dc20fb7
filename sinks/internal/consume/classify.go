package consume

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/kraite/stream/internal/validate"
)

// # Bad record or outage?
//
// A sink must never retry a record that can never succeed (DESIGN.md
// section 5, "Fail closed"): a value the database refuses is refused again
// on every retry, and the loop would stall every account behind it. An
// outage, on the other hand, must be retried until it ends, losing nothing.
// The error says which: a database "data" error (the value does not fit
// its column, is not valid text, is not a valid date) is caused by the
// record; a connection error, a timeout, a deadlock or anything unknown is
// treated as an outage. Unknown errors are retried on purpose: wrongly
// retrying stalls the sink visibly (unhealthy, retries counted), wrongly
// quarantining would silently drop a good record.

// ErrBadRecord marks an error caused by the record itself: it can never be
// written and goes to quarantine.
var ErrBadRecord = errors.New("bad record")

// Bad marks err as caused by the record (errors.Is(Bad(err), ErrBadRecord)).
func Bad(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrBadRecord, err)
}

// IsBadRecord reports whether err was caused by the record, not by the
// database or the broker: marked with Bad, a refused value
// (validate.ErrInvalid), or a database data error (IsDataError).
func IsBadRecord(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, ErrBadRecord) || errors.Is(err, validate.ErrInvalid) || IsDataError(err)
}

// mysqlDataErrors are the MySQL/MariaDB errors a value causes (strict mode
// turns the warnings among them into errors).
var mysqlDataErrors = map[uint16]bool{
	1048: true, // ER_BAD_NULL_ERROR: column cannot be null
	1264: true, // ER_WARN_DATA_OUT_OF_RANGE: out of range value for column
	1265: true, // WARN_DATA_TRUNCATED: data truncated for column
	1292: true, // ER_TRUNCATED_WRONG_VALUE: incorrect datetime value
	1300: true, // ER_INVALID_CHARACTER_STRING
	1366: true, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: incorrect string/integer value
	1367: true, // ER_ILLEGAL_VALUE_FOR_TYPE
	1406: true, // ER_DATA_TOO_LONG: data too long for column
	1411: true, // ER_WRONG_VALUE_FOR_TYPE: incorrect value for function
	1153: true, // ER_NET_PACKET_TOO_LARGE: the statement's values exceed max_allowed_packet (bisecting shrinks it)
	1690: true, // ER_DATA_OUT_OF_RANGE: value out of range in expression
	3140: true, // ER_INVALID_JSON_TEXT
	3819: true, // ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
	4025: true, // ER_CONSTRAINT_FAILED (MariaDB CHECK constraint)
}

// SQLite primary result codes a value causes.
const (
	sqliteTooBig     = 18 // SQLITE_TOOBIG: string or blob too big
	sqliteConstraint = 19 // SQLITE_CONSTRAINT (CHECK, NOT NULL; upserts absorb UNIQUE)
	sqliteMismatch   = 20 // SQLITE_MISMATCH: data type mismatch
)

// IsDataError reports whether err is a database error caused by the values
// of the statement: MySQL/MariaDB errors 1264, 1366, 1406, 1292, 3140 and
// their kin (mysqlDataErrors); PostgreSQL SQLSTATE class 22 (data
// exception), 23502 (not null) and 23514 (check); SQLite TOOBIG,
// CONSTRAINT and MISMATCH.
func IsDataError(err error) bool {
	if errors.Is(err, mysql.ErrPktTooLarge) {
		return true // the driver refused to send values that large: bisecting shrinks them
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return mysqlDataErrors[me.Number]
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return len(pe.Code) == 5 && (pe.Code[:2] == "22" || pe.Code == "23502" || pe.Code == "23514")
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteTooBig, sqliteConstraint, sqliteMismatch:
			return true
		}
	}
	return false
}

// Failed is an item that cannot be written, with the reason.
type Failed[T any] struct {
	Item T
	Err  error
}

// Isolate writes items with write (one database transaction per call). When
// the write fails because of a record (IsBadRecord), it bisects: each half
// is written on its own, down to single items, so the good items are written
// and every item that fails alone with a record error is returned in bad,
// for the caller to quarantine. Any other error (an outage) is returned as
// err at once: nothing of the failing part was written and the caller
// retries the batch; parts already written are written again, which the
// sinks' idempotent writes absorb. Halves keep the batch's order, so the
// writes happen in record order. One bad item among n costs about 2*log2(n)
// extra writes.
func Isolate[T any](ctx context.Context, items []T, write func(context.Context, []T) error) (bad []Failed[T], err error) {
	if len(items) == 0 {
		return nil, nil
	}
	werr := write(ctx, items)
	switch {
	case werr == nil:
		return nil, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case !IsBadRecord(werr):
		return nil, werr
	case len(items) == 1:
		return []Failed[T]{{Item: items[0], Err: werr}}, nil
	}
	mid := len(items) / 2
	left, err := Isolate(ctx, items[:mid], write)
	if err != nil {
		return nil, err
	}
	right, err := Isolate(ctx, items[mid:], write)
	if err != nil {
		return nil, err
	}
	return append(left, right...), nil
}
