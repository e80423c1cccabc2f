"""Built-in capability `calendar`: the 工作日历 (holidays and adjusted working days), working-time
arithmetic, deadlines stored as columns and their warning lights."""
