package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// appendResult is what one append found: its status (rdb.AppendOK,
// AppendCapped, AppendShort or AppendConflict) and the log's length; see
// rdb.Logs.Append.
type appendResult struct {
	status string
	size   int64
}

func (l *Log) capMarker(id int64) string {
	return fmt.Sprintf("[gantry: the log of job #%d reached its limit of %d bytes; later lines are not kept]\n", id, l.cfg.MaxBytes)
}

// appendAt appends chunk to job id's log where the writer expects it to
// land, at offset off.
// at is when the output was taken (zero for gantry's own notes).
func (l *Log) appendAt(ctx context.Context, id int64, chunk []byte, off int64, at time.Time) (appendResult, error) {
	res, err := l.logs.Append(ctx, id, rdb.Append{
		Chunk: chunk, Offset: off, Cap: l.cfg.MaxBytes, Marker: l.capMarker(id), Keep: l.cfg.Retention, At: at,
	})
	if err != nil {
		return appendResult{}, fmt.Errorf("append to log of job #%d: %w", id, err)
	}
	return appendResult{status: res.Status, size: res.Size}, nil
}
