# glmnet reference: path coefficients at the lambdas we give, the default lambda_max, and
# cv.glmnet (deviance) with our fold ids.  One dataset per `ds`; features are columns x*.
args <- commandArgs(trailingOnly = TRUE); wd <- args[1]
source(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))), "common.R"))
suppressMessages(library(glmnet))
d <- read.csv(file.path(wd, "lasso_in.csv"), stringsAsFactors = FALSE)
lam <- read.csv(file.path(wd, "lambdas.csv"))
coefs <- list(); cvs <- list(); sums <- list()
for (k in sort(unique(d$ds))) {
  x <- d[d$ds == k, ]
  xs <- grep("^x", names(x), value = TRUE)
  xs <- xs[colSums(is.na(x[, xs])) == 0]
  X <- as.matrix(x[, xs]); y <- factor(x$y)
  fam <- if (nlevels(y) == 2) "binomial" else "multinomial"
  L <- lam$lambda[lam$ds == k]
  default <- glmnet(X, y, family = fam, nlambda = 5)
  fit <- glmnet(X, y, family = fam, lambda = L, standardize = TRUE, thresh = 1e-13, maxit = 1e6)
  cf <- coef(fit)
  if (fam == "binomial") cf <- list(coef = cf)
  for (cl in names(cf)) {
    m <- as.matrix(cf[[cl]])
    coefs[[length(coefs) + 1]] <- data.frame(ds = k, class = cl, term = rep(rownames(m), ncol(m)),
      li = rep(seq_len(ncol(m)) - 1, each = nrow(m)), value = as.vector(m))
  }
  cv <- cv.glmnet(X, y, family = fam, lambda = L, foldid = x$fold + 1, type.measure = "deviance",
                  thresh = 1e-13, maxit = 1e6)
  cvs[[length(cvs) + 1]] <- data.frame(ds = k, li = seq_along(cv$lambda) - 1, lambda = cv$lambda,
                                       cvm = cv$cvm, cvsd = cv$cvsd)
  sums[[length(sums) + 1]] <- data.frame(ds = k, lambda_max = default$lambda[1],
                                         lambda_min = cv$lambda.min, lambda_1se = cv$lambda.1se)
}
write_out(do.call(rbind, coefs), file.path(wd, "out_coef.csv"))
write_out(do.call(rbind, cvs), file.path(wd, "out_cv.csv"))
write_out(do.call(rbind, sums), file.path(wd, "out_sum.csv"))
