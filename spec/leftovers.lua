-- The end of a whole run (spec/parallel): every process that carries the
-- run's mark (the variable named by the argument) and is still alive is
-- named and killed; the exit status is 1 if there was any.
package.path = "spec/?.lua;" .. package.path
local children = require("children")
os.exit(children.end_of_run(arg[1]) == 0 and 0 or 1)
