# untime.sh — sourced by the tests that compare reports of split runs with one
# run's: timing is the one thing a split may change, so drop it.
untime_json() { sed 's/,"timing":{"seconds":[^}]*}//g' "$1"; }
untime_csv() {   # the "seconds" column, found by its header name
  c=$(head -n 1 "$1" | tr ',' '\n' | grep -n -x 'seconds' | cut -d: -f1)
  cut -d, -f"${c:-9999}" --complement "$1"
}
