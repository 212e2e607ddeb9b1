package storage

import "testing"

// TestRebind: ? placeholders become $1, $2, ... on PostgreSQL, except in
// string literals, quoted identifiers and comments; SQLite keeps them.
func TestRebind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT id FROM requests WHERE app = ? AND env = ? LIMIT ?`, `SELECT id FROM requests WHERE app = $1 AND env = $2 LIMIT $3`},
		{`UPDATE t SET a = '?', b = ? WHERE c = 'it''s?' AND d = ?`, `UPDATE t SET a = '?', b = $1 WHERE c = 'it''s?' AND d = $2`},
		{`SELECT "we?rd", ? FROM t`, `SELECT "we?rd", $1 FROM t`},
		{"SELECT ? -- why?\nFROM t WHERE x = ?", "SELECT $1 -- why?\nFROM t WHERE x = $2"},
		{`SELECT 'unterminated ?`, `SELECT 'unterminated ?`},
	} {
		if got := postgresDialect.rebind(tc.in); got != tc.want {
			t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := sqliteDialect.rebind(tc.in); got != tc.in {
			t.Errorf("SQLite rebind(%q) = %q, want it unchanged", tc.in, got)
		}
	}
}
