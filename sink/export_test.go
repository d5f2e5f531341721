package sink

import "context"

// DivisionLockKey exposes divisionLockKey to the tests.
var DivisionLockKey = divisionLockKey

// WriteRecoveryFile writes the recovery file that a failed commit of next would leave
// behind for connection connID, whose stored refresh token was predecessor.
func (s *Store) WriteRecoveryFile(ctx context.Context, connID int64, predecessor string, next Token) (string, error) {
	row := tokenRow{connID: connID}
	err := s.pool.QueryRow(ctx, `SELECT base_url, client_id FROM exact_sync.connections WHERE id = $1`, connID).
		Scan(&row.baseURL, &row.clientID)
	if err != nil {
		return "", err
	}
	row.tok.RefreshToken = predecessor
	return s.writeRecovery(row, next)
}
