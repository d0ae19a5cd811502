# Base-R reference: p.adjust for every method, NA passed through (n = number of non-NA p).
args <- commandArgs(trailingOnly = TRUE); wd <- args[1]
source(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))), "common.R"))
d <- read.csv(file.path(wd, "padjust_in.csv"))
rows <- list()
for (k in sort(unique(d$ds))) {
  x <- d[d$ds == k, ]
  out <- data.frame(ds = k, i = x$i)
  for (m in c("holm", "bonferroni", "hochberg", "hommel", "BH", "BY")) out[[m]] <- p.adjust(x$p, method = m)
  rows[[length(rows) + 1]] <- out
}
write_out(do.call(rbind, rows), file.path(wd, "out.csv"))
