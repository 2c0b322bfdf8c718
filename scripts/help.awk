# `make help`: each documented target (`target: ... ## text`) as
# `  make <target>  <text>`, the text wrapped to fit 80 columns, and a
# Makefile's `$$` shown as the `$` the shell gets.
BEGIN { FS = ":.*## "; width = 80; indent = sprintf("%20s", "") }
/^[a-zA-Z_-]+:.*## / {
    text = $2
    gsub(/\$\$/, "$", text)
    line = sprintf("  make %-13s", $1)
    words = split(text, word, " ")
    for (i = 1; i <= words; i++) {
        if (length(line) + 1 + length(word[i]) > width) {
            print line
            line = indent
        }
        line = line " " word[i]
    }
    print line
}
