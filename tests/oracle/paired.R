# Base-R reference: t.test(paired), mcnemar.test (corrected / not), binom.test on discordant pairs.
args <- commandArgs(trailingOnly = TRUE); wd <- args[1]
source(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))), "common.R"))
d <- read.csv(file.path(wd, "paired_in.csv"))
rows <- list()
for (k in sort(unique(d$ds))) {
  x <- d[d$ds == k, ]
  t <- t.test(x$a, x$b, paired = TRUE)
  tab <- table(factor(x$ba, levels = 0:1), factor(x$bb, levels = 0:1))
  n10 <- tab[2, 1]; n01 <- tab[1, 2]
  mc <- mcnemar.test(tab, correct = TRUE); mu <- mcnemar.test(tab, correct = FALSE)
  ex <- if (n10 + n01 > 0) binom.test(n10, n10 + n01, 0.5)$p.value else 1
  rows[[length(rows) + 1]] <- data.frame(ds = k, t = unname(t$statistic), df = unname(t$parameter),
    p_t = t$p.value, lo = t$conf.int[1], hi = t$conf.int[2], chi_c = unname(mc$statistic), p_c = mc$p.value,
    chi_u = unname(mu$statistic), p_u = mu$p.value, p_exact = ex)
}
write_out(do.call(rbind, rows), file.path(wd, "out.csv"))
