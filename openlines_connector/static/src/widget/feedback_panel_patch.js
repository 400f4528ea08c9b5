import { FeedbackPanel } from "@im_livechat/embed/common/feedback_panel/feedback_panel";
import { patch } from "@web/core/utils/patch";

/**
 * The rating form of the site widget follows the line: a session of an Open Line that does not
 * ask for a rating ("Ask for a rating" off) shows the end-of-chat panel without it. The server says
 * so per session (`openlines_rating_request`, absent for other live-chat channels: they ask).
 */
patch(FeedbackPanel.prototype, {
    get openlinesAskRating() {
        return this.props.thread.openlines_rating_request !== false;
    },
});
