--- Constants of the FIX 4.4 dictionary, for code that prefers them to names:
--   fix44.tags.ClOrdID == 11, fix44.Side.BUY == "1",
--   fix44.messages.NewOrderSingle == "D".
-- @module betatrader.fix44
local dict = require("betatrader.dict")

return dict.default():constants()
